using CadStream.Model;
using CadStream.Model.Networks;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Runtime;
using CadStream.Snapshots;
using static TorchSharp.torch;

namespace CadStream.Serving;

/// <summary>A request's images, (Count, C, H, W) on the CPU in [-1, 1], and the snapshot that made them. Dispose it.</summary>
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
/// Serves one model: holds the loaded snapshot and runs queued requests in batches on its
/// <see cref="TorchWorker{T}"/>, the one thread that runs this model's network.
/// <para>Swapping: <see cref="Install"/> builds the new network on the caller's thread (a loader,
/// never the request path) and swaps it in under a lock. A batch takes a reference to the model it
/// starts with and keeps it to the end, so requests in flight finish on their weights; the old
/// network is disposed when its last batch releases it.</para>
/// <para>Batching: the worker takes every waiting request that shares the first one's sampler
/// settings, up to <see cref="ServingOptions.MaxBatchImages"/> images, and runs them through one
/// <see cref="CadPipeline.Sample"/> call: one network pass per step for all of them. Each request
/// keeps its own seed, so its images do not depend on its neighbours' noise.</para>
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

    private sealed class Pending(SampleRequest request, SamplerSettings sampler, CancellationToken cancel)
    {
        public SampleRequest Request { get; } = request;
        public SamplerSettings Sampler { get; } = sampler;
        public CancellationToken Cancel { get; } = cancel;
        public TaskCompletionSource<SampleOutput> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration { get; set; }
    }

    private readonly ServingOptions options;
    private readonly Device device;
    private readonly object swapGate = new();
    private readonly TorchWorker<Pending> worker;
    private LoadedModel? current;
    private int queued;
    private volatile bool stopping;
    private long batchesRun, networkPasses, imagesSampled, modelsDisposed;

    public ModelHost(ModelSpec spec, ServingOptions options, Device device)
    {
        Spec = spec ?? throw new ArgumentNullException(nameof(spec));
        this.options = options ?? throw new ArgumentNullException(nameof(options));
        options.Validate();
        this.device = device;
        worker = new TorchWorker<Pending>($"cad-sample-{spec.Id}", options.MaxQueuedRequests);
        worker.Start(SamplingLoop);
    }

    public ModelSpec Spec { get; }
    public string ModelId => Spec.Id;

    /// <summary>The snapshot now served, or null before the first one is installed.</summary>
    public SnapshotInfo? Current => Volatile.Read(ref current)?.Info;

    /// <summary>The served snapshot's spec (class names, default guidance), or null.</summary>
    public ModelSpec? CurrentSpec => Volatile.Read(ref current)?.Pipeline.Spec;

    /// <summary>Guidance used when a request names none: the served snapshot's, else the catalog's.</summary>
    public double DefaultGuidance => (CurrentSpec ?? Spec).DefaultGuidance;

    /// <summary>Ends when the sampling thread ends; faulted if it failed.</summary>
    public Task Completion => worker.Completion;

    /// <summary>Batched sampling calls run so far (each is Steps network passes for all its requests).</summary>
    public long BatchesRun => Interlocked.Read(ref batchesRun);
    /// <summary>Network forward passes run so far (sum of the batches' step counts).</summary>
    public long NetworkPasses => Interlocked.Read(ref networkPasses);
    public long ImagesSampled => Interlocked.Read(ref imagesSampled);
    /// <summary>Swapped-out networks disposed so far (after their last batch).</summary>
    public long ModelsDisposed => Interlocked.Read(ref modelsDisposed);

    /// <summary>Requests waiting for a batch (not counting the one running).</summary>
    public int QueueLength => Volatile.Read(ref queued);

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
        CheckCompatible(snapshot.Spec);
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

    void CheckCompatible(ModelSpec snapshot)
    {
        if (snapshot.Kind != Spec.Kind)
            throw new SnapshotFormatException($"snapshot for model {ModelId} has condition kind '{snapshot.Kind}', the catalog says '{Spec.Kind}'");
        if (snapshot.Kind == "class" && !snapshot.Classes.SequenceEqual(Spec.Classes))
            throw new SnapshotFormatException(
                $"snapshot for model {ModelId} has classes [{string.Join(", ", snapshot.Classes)}], the catalog says [{string.Join(", ", Spec.Classes)}]");
        if (snapshot.Channels != Spec.Channels || snapshot.ImageSize != Spec.ImageSize)
            throw new SnapshotFormatException(
                $"snapshot for model {ModelId} makes {snapshot.Channels}x{snapshot.ImageSize}x{snapshot.ImageSize} images, the catalog says {Spec.Channels}x{Spec.ImageSize}x{Spec.ImageSize}");
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
    /// Queues a request; completes when its batch has run. Throws <see cref="NoSnapshotException"/>
    /// before the first snapshot, <see cref="QueueFullException"/> when the queue is full.
    /// </summary>
    public Task<SampleOutput> SampleAsync(SampleRequest request, SamplerSettings sampler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(sampler);
        var spec = CurrentSpec ?? throw new NoSnapshotException($"model {ModelId} has no snapshot loaded yet");
        request.Validate(spec);
        sampler.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(stopping, this);
        if (Interlocked.Increment(ref queued) > options.MaxQueuedRequests)
        {
            Interlocked.Decrement(ref queued);
            throw new QueueFullException($"model {ModelId}: the sampling queue is full ({options.MaxQueuedRequests} requests waiting); retry later");
        }
        var pending = new Pending(request, sampler, cancellationToken);
        if (cancellationToken.CanBeCanceled)
            pending.Registration = cancellationToken.Register(() => pending.Completion.TrySetCanceled(cancellationToken));
        if (!worker.TryPost(pending))
        {
            Interlocked.Decrement(ref queued);
            pending.Registration.Dispose();
            throw new QueueFullException($"model {ModelId}: the sampling queue is full; retry later");
        }
        return pending.Completion.Task;
    }

    void SamplingLoop(TorchWorker<Pending>.Inbox inbox)
    {
        var waiting = new List<Pending>();
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
        {
            Interlocked.Decrement(ref queued);
            Complete(p, null, new ObjectDisposedException(nameof(ModelHost), $"model {ModelId} is shutting down"));
        }
    }

    /// <summary>Takes the oldest request and every later one that can share its batch.</summary>
    List<Pending> TakeBatch(List<Pending> waiting)
    {
        var batch = new List<Pending>();
        int images = 0;
        SamplerSettings? key = null;
        for (int i = 0; i < waiting.Count;)
        {
            var p = waiting[i];
            if (p.Completion.Task.IsCompleted)  // cancelled while waiting
            {
                waiting.RemoveAt(i);
                Interlocked.Decrement(ref queued);
                p.Registration.Dispose();
                continue;
            }
            key ??= p.Sampler;
            if (p.Sampler == key && (images == 0 || images + p.Request.Count <= options.MaxBatchImages))
            {
                waiting.RemoveAt(i);
                Interlocked.Decrement(ref queued);
                batch.Add(p);
                images += p.Request.Count;
                if (images >= options.MaxBatchImages) break;
                continue;
            }
            i++;
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
        var sampler = batch[0].Sampler;
        var requests = batch.Select(p => p.Request).ToArray();
        Tensor[] images;
        try { images = model.Pipeline.Sample(requests, sampler); }
        catch (Exception e)
        {
            Release(model);
            foreach (var p in batch) Complete(p, null, e);
            return;
        }
        // The outputs are CPU copies: let go of the network before answering, so a swapped-out one is freed at once.
        Release(model);
        Interlocked.Increment(ref batchesRun);
        Interlocked.Add(ref networkPasses, sampler.Steps);
        Interlocked.Add(ref imagesSampled, requests.Sum(r => (long)r.Count));
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
        if (stopping) return ValueTask.CompletedTask;
        stopping = true;
        // The batch in progress finishes first; requests still queued fail.
        worker.RequestStop();
        worker.Join(Timeout.InfiniteTimeSpan);
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
