using CadStream.Model.Sampling;
using CadStream.Runtime;
using static TorchSharp.torch;

namespace CadStream.Serving;

/// <summary>
/// The loop of a model's sampling thread: the worker takes every waiting request that shares the first one's sampler
/// settings and network, up to <see cref="ServingOptions.MaxBatchImages"/> images, and runs them through one
/// <see cref="CadPipeline.Sample"/> call: one network pass per step for all of them. Each request keeps its own seed,
/// so its images do not depend on its neighbours' noise. A batch holds a reference to its network to the end.
/// </summary>
sealed class SampleBatcher(string modelId, ServingOptions options, SampleQueue queue, LoadedModels models)
{
    private int running;
    private long batchesRun, networkPasses, imagesSampled;

    /// <summary>Requests in the batch running now.</summary>
    public int Running => Volatile.Read(ref running);
    public long BatchesRun => Interlocked.Read(ref batchesRun);
    public long NetworkPasses => Interlocked.Read(ref networkPasses);
    public long ImagesSampled => Interlocked.Read(ref imagesSampled);

    public void Run(TorchWorker<PendingSample>.Inbox inbox)
    {
        var waiting = new List<PendingSample>();
        while (true)
        {
            inbox.WaitForever();
            waiting.AddRange(inbox.TakeAll());
            if (inbox.Stopping) break;
            while (waiting.Count > 0)
            {
                var batch = TakeBatch(waiting);
                if (batch.Count > 0) RunBatch(batch);
                waiting.AddRange(inbox.TakeAll());  // newcomers may join the next batch
                if (inbox.Stopping) break;
            }
            if (inbox.Stopping) break;
        }
        foreach (var p in waiting)
            queue.Fail(p, () => new ObjectDisposedException(nameof(ModelHost), $"model {modelId} is shutting down"));
    }

    /// <summary>
    /// Takes the oldest request and every later one that can share its batch: the same sampler settings
    /// and the same network (the newest for requests that name no version, else the one they named).
    /// </summary>
    List<PendingSample> TakeBatch(List<PendingSample> waiting)
    {
        var batch = new List<PendingSample>();
        int images = 0;
        PendingSample? head = null;
        for (int i = 0; i < waiting.Count;)
        {
            var p = waiting[i];
            if (p.HasLeft)  // its caller gave up; it freed its slot then
            {
                waiting.RemoveAt(i);
                continue;
            }
            if ((head is null || (p.Sampler == head.Sampler && ReferenceEquals(p.Model, head.Model)))
                && (images == 0 || images + p.Request.Count <= options.MaxBatchImages))
            {
                waiting.RemoveAt(i);
                if (!queue.TryTake(p)) continue;  // given up just now
                head ??= p;
                batch.Add(p);
                images += p.Request.Count;
                if (images >= options.MaxBatchImages) break;
                continue;
            }
            i++;
        }
        return batch;
    }

    void RunBatch(List<PendingSample> batch)
    {
        // Requests that named a version each hold a reference to it; the others share one taken now.
        bool named = batch[0].Model is not null;
        var model = batch[0].Model ?? models.AcquireCurrent();
        void LetGo()
        {
            if (named) foreach (var p in batch) models.Release(p.Model!);
            else if (model is not null) models.Release(model);
        }
        if (model is null)
        {
            foreach (var p in batch) p.Finish(null, new NoSnapshotException($"model {modelId} has no snapshot loaded yet"));
            return;
        }
        var sampler = batch[0].Sampler;
        var requests = batch.Select(p => p.Request).ToArray();
        Tensor[] images;
        Volatile.Write(ref running, batch.Count);
        try { images = model.Pipeline.Sample(requests, sampler); }
        catch (Exception e)
        {
            Volatile.Write(ref running, 0);
            LetGo();
            foreach (var p in batch) p.Finish(null, e);
            return;
        }
        Volatile.Write(ref running, 0);
        // The outputs are CPU copies: let go of the network before answering, so a swapped-out one is freed at once.
        LetGo();
        Interlocked.Increment(ref batchesRun);
        Interlocked.Add(ref networkPasses, sampler.Steps);
        Interlocked.Add(ref imagesSampled, requests.Sum(r => (long)r.Count));
        for (int i = 0; i < batch.Count; i++)
            batch[i].Finish(new SampleOutput(images[i], model.Info), null);
    }
}
