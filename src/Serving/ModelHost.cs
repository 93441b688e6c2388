using CadStream.Model;
using CadStream.Model.Catalog;
using CadStream.Model.Networks;
using CadStream.Model.Sampling;
using CadStream.Model.Snapshots;
using static TorchSharp.torch;

namespace CadStream.Serving;

/// <summary>One sampling request, already validated against the model (label in range etc.).</summary>
public sealed record SampleJob(int Label, int Count = 1, double Coherence = 1.0, double Guidance = 0.0, int Steps = 50,
    SamplerKind Sampler = SamplerKind.Ddim, long Seed = 0);

/// <summary>A job's images, (Count, C, H, W) on the CPU in [-1, 1], and the snapshot that made them. Dispose it.</summary>
public sealed class SampleOutput(Tensor images, SnapshotInfo snapshot) : IDisposable
{
    public Tensor Images { get; } = images;
    public SnapshotInfo Snapshot { get; } = snapshot;
    public void Dispose() => Images.Dispose();
}

/// <summary>The model's sampling queue is full (HTTP 429).</summary>
public sealed class QueueFullException(string message) : Exception(message);

/// <summary>The model has no snapshot loaded yet (HTTP 503).</summary>
public sealed class NoSnapshotException(string message) : Exception(message);

/// <summary>
/// Serves one model: holds the loaded snapshot and runs queued requests in batches on one
/// dedicated sampling thread (TorchSharp's dispose scopes and grad mode are per thread, so all
/// network work for the model happens there).
/// <para>Swapping: <see cref="Install"/> builds the new network on the caller's thread (a loader,
/// never the request path) and swaps it in under a lock. A batch takes a reference to the model it
/// starts with and keeps it to the end, so requests in flight finish on their weights; the old
/// network is disposed when its last batch releases it.</para>
/// <para>Batching: the sampling thread takes every waiting request that shares the first one's
/// step count and sampler, up to <see cref="ServingOptions.MaxBatchImages"/> images, and runs them
/// through one <see cref="CadPipeline.Sample"/> call: one network pass per step for all of them.
/// Each request keeps its own seed, so its images do not depend on its neighbours' noise.</para>
/// </summary>
public sealed class ModelHost : IAsyncDisposable
{
    private sealed class LoadedModel(SnapshotInfo info, CadDenoiser denoiser, CadPipeline pipeline)
    {
        private int refs = 1;  // the host's own reference, dropped when swapped out
        public SnapshotInfo Info { get; } = info;
        public CadDenoiser Denoiser { get; } = denoiser;
        public CadPipeline Pipeline { get; } = pipeline;
        public void AddRef() => Interlocked.Increment(ref refs);
        /// <returns>true when this released the last reference and disposed the network.</returns>
        public bool Release()
        {
            if (Interlocked.Decrement(ref refs) != 0) return false;
            Denoiser.Dispose();
            return true;
        }
    }

    private sealed class Pending(SampleJob job, CancellationToken cancel)
    {
        public SampleJob Job { get; } = job;
        public CancellationToken Cancel { get; } = cancel;
        public TaskCompletionSource<SampleOutput> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration { get; set; }
    }

    private readonly ServingOptions options;
    private readonly Device device;
    private readonly object swapGate = new();
    private LoadedModel? current;
    private readonly object queueGate = new();
    private readonly LinkedList<Pending> queue = new();
    private readonly Thread samplingThread;
    private bool stopping;
    private long batchesRun, networkPasses, imagesSampled, modelsDisposed;

    public ModelHost(ModelSpec spec, ServingOptions options, Device device)
    {
        Spec = spec ?? throw new ArgumentNullException(nameof(spec));
        this.options = options ?? throw new ArgumentNullException(nameof(options));
        options.Validate();
        this.device = device;
        samplingThread = new Thread(SamplingLoop) { IsBackground = true, Name = $"cad-sample-{spec.Id}" };
        samplingThread.Start();
    }

    public ModelSpec Spec { get; }
    public string ModelId => Spec.Id;

    /// <summary>The snapshot now served, or null before the first one is installed.</summary>
    public SnapshotInfo? Current => Volatile.Read(ref current)?.Info;

    /// <summary>The served snapshot's model config (class names, default guidance), or null.</summary>
    public ModelConfig? CurrentConfig => Volatile.Read(ref current)?.Pipeline.Config;

    /// <summary>Guidance used when a request names none: the served snapshot's, else the catalog's.</summary>
    public double DefaultGuidance => CurrentConfig?.DefaultGuidance ?? Spec.ToModelConfig().DefaultGuidance;

    /// <summary>Batched sampling calls run so far (each is Steps network passes for all its requests).</summary>
    public long BatchesRun => Interlocked.Read(ref batchesRun);
    /// <summary>Network forward passes run so far (sum of the batches' step counts).</summary>
    public long NetworkPasses => Interlocked.Read(ref networkPasses);
    public long ImagesSampled => Interlocked.Read(ref imagesSampled);
    /// <summary>Swapped-out networks disposed so far (after their last batch).</summary>
    public long ModelsDisposed => Interlocked.Read(ref modelsDisposed);

    public int QueueLength { get { lock (queueGate) return queue.Count; } }

    /// <summary>
    /// Parses and loads snapshot bytes (already checked against <paramref name="info"/> by the store)
    /// and swaps them in. Slow: call it off the request path. A version not newer than the served one
    /// is ignored (returns false).
    /// </summary>
    public bool Install(SnapshotInfo info, byte[] snapshotBytes)
    {
        ArgumentNullException.ThrowIfNull(info);
        ArgumentNullException.ThrowIfNull(snapshotBytes);
        if (Current is { } served && served.Version >= info.Version) return false;
        var sha = CadSnapshot.Sha256Hex(snapshotBytes);
        if (!string.Equals(sha, info.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new SnapshotIntegrityException($"snapshot {ModelId} v{info.Version}: sha256 {sha} does not match the published {info.Sha256}");
        var snapshot = CadSnapshot.FromBytes(snapshotBytes);
        CheckCompatible(snapshot.Config);
        var denoiser = snapshot.CreateDenoiser(device);
        var loaded = new LoadedModel(info, denoiser, new CadPipeline(denoiser, device));
        LoadedModel? old;
        lock (swapGate)
        {
            old = current;
            if (old is not null && old.Info.Version >= info.Version) old = loaded;  // lost a race with a newer install
            else Volatile.Write(ref current, loaded);
        }
        if (old == loaded)
        {
            Release(loaded);
            return false;
        }
        ServingMetrics.SnapshotVersion.WithLabels(ModelId).Set(info.Version);
        if (old is not null) Release(old);
        return true;
    }

    void CheckCompatible(ModelConfig config)
    {
        if (config.Kind != Spec.Kind)
            throw new SnapshotFormatException($"snapshot for model {ModelId} has condition kind '{config.Kind}', the catalog says '{Spec.Kind}'");
        if (config.Kind == "class" && !config.ClassNames.SequenceEqual(Spec.ClassNames))
            throw new SnapshotFormatException(
                $"snapshot for model {ModelId} has classes [{string.Join(", ", config.ClassNames)}], the catalog says [{string.Join(", ", Spec.ClassNames)}]");
    }

    void Release(LoadedModel model)
    {
        if (model.Release()) Interlocked.Increment(ref modelsDisposed);
    }

    LoadedModel? Acquire()
    {
        lock (swapGate)
        {
            current?.AddRef();
            return current;
        }
    }

    /// <summary>
    /// Queues a job; completes when its batch has run. Throws <see cref="NoSnapshotException"/>
    /// before the first snapshot, <see cref="QueueFullException"/> when the queue is full.
    /// </summary>
    public Task<SampleOutput> SampleAsync(SampleJob job, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        var config = CurrentConfig ?? throw new NoSnapshotException($"model {ModelId} has no snapshot loaded yet");
        new SampleRequest(job.Label, job.Count, job.Coherence, job.Guidance, job.Seed).Validate(config);
        if (job.Steps is < 1 or > 1000) throw new ArgumentException($"steps must be in 1..1000 (got {job.Steps})");
        cancellationToken.ThrowIfCancellationRequested();
        var pending = new Pending(job, cancellationToken);
        if (cancellationToken.CanBeCanceled)
            pending.Registration = cancellationToken.Register(() => pending.Completion.TrySetCanceled(cancellationToken));
        lock (queueGate)
        {
            if (stopping || queue.Count >= options.MaxQueuedRequests)
            {
                pending.Registration.Dispose();
                ObjectDisposedException.ThrowIf(stopping, this);
                throw new QueueFullException($"model {ModelId}: the sampling queue is full ({options.MaxQueuedRequests} requests waiting); retry later");
            }
            queue.AddLast(pending);
            Monitor.Pulse(queueGate);
        }
        return pending.Completion.Task;
    }

    void SamplingLoop()
    {
        while (true)
        {
            List<Pending> batch;
            lock (queueGate)
            {
                while (queue.Count == 0 && !stopping) Monitor.Wait(queueGate);
                if (stopping) break;
                batch = TakeBatch();
            }
            if (batch.Count > 0) RunBatch(batch);
        }
        List<Pending> left;
        lock (queueGate)
        {
            left = [.. queue];
            queue.Clear();
        }
        foreach (var p in left) Complete(p, null, new ObjectDisposedException(nameof(ModelHost), $"model {ModelId} is shutting down"));
    }

    /// <summary>Takes the oldest request and every later one that can share its batch. Caller holds queueGate.</summary>
    List<Pending> TakeBatch()
    {
        var batch = new List<Pending>();
        int images = 0;
        (int Steps, SamplerKind Sampler)? key = null;
        for (var node = queue.First; node is not null;)
        {
            var next = node.Next;
            var p = node.Value;
            if (p.Completion.Task.IsCompleted)  // cancelled while waiting
            {
                queue.Remove(node);
                p.Registration.Dispose();
            }
            else
            {
                var k = (p.Job.Steps, p.Job.Sampler);
                key ??= k;
                if (k == key && (images == 0 || images + p.Job.Count <= options.MaxBatchImages))
                {
                    queue.Remove(node);
                    batch.Add(p);
                    images += p.Job.Count;
                    if (images >= options.MaxBatchImages) break;
                }
            }
            node = next;
        }
        return batch;
    }

    void RunBatch(List<Pending> batch)
    {
        var model = Acquire();
        if (model is null)
        {
            foreach (var p in batch) Complete(p, null, new NoSnapshotException($"model {ModelId} has no snapshot loaded yet"));
            return;
        }
        var first = batch[0].Job;
        var jobs = batch.Select(p => new SampleRequest(p.Job.Label, p.Job.Count, p.Job.Coherence, p.Job.Guidance, p.Job.Seed)).ToArray();
        Tensor[] images;
        try { images = model.Pipeline.Sample(jobs, new SamplerSettings(first.Steps, first.Sampler)); }
        catch (Exception e)
        {
            Release(model);
            foreach (var p in batch) Complete(p, null, e);
            return;
        }
        // The outputs are CPU copies: let go of the network before answering, so a swapped-out one is freed at once.
        Release(model);
        Interlocked.Increment(ref batchesRun);
        Interlocked.Add(ref networkPasses, first.Steps);
        Interlocked.Add(ref imagesSampled, jobs.Sum(j => (long)j.Count));
        for (int i = 0; i < batch.Count; i++)
            Complete(batch[i], new SampleOutput(images[i], model.Info), null);
    }

    static void Complete(Pending p, SampleOutput? output, Exception? error)
    {
        p.Registration.Dispose();
        bool taken = output is not null ? p.Completion.TrySetResult(output) : p.Completion.TrySetException(error!);
        if (!taken) output?.Dispose();  // the caller gave up (cancelled) before the batch ended
    }

    public ValueTask DisposeAsync()
    {
        lock (queueGate)
        {
            if (stopping) return ValueTask.CompletedTask;
            stopping = true;
            Monitor.PulseAll(queueGate);
        }
        // The batch in progress finishes first; requests still queued fail.
        samplingThread.Join();
        LoadedModel? last;
        lock (swapGate)
        {
            last = current;
            current = null;
        }
        if (last is not null) Release(last);
        return ValueTask.CompletedTask;
    }
}
