using CadStream.Catalog;
using CadStream.Catalog.Conditions;
using CadStream.Model;
using CadStream.Model.Networks;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Runtime;
using CadStream.Snapshots;
using static TorchSharp.torch;

namespace CadStream.Serving;

/// <summary>
/// Serves one model: holds the loaded snapshot and runs queued requests in batches on its
/// <see cref="TorchWorker{T}"/>, the one thread that runs this model's network.
/// <para>Swapping: <see cref="Install"/> builds the new network on the caller's thread (a loader,
/// never the request path) and swaps it in under a lock. A batch takes a reference to the model it
/// starts with and keeps it to the end, so requests in flight finish on their weights; the old
/// network is disposed when its last batch releases it.</para>
/// <para>Queue: a request holds a slot and its cost (images x steps) from the moment it is accepted
/// until its batch starts. A request whose caller gives up (the HTTP client went away) leaves the queue
/// at once: its slot and cost are free again and it is never sampled. One already in a running batch
/// finishes with it, its answer dropped.</para>
/// <para>Batching: the worker takes every waiting request that shares the first one's sampler
/// settings, up to <see cref="ServingOptions.MaxBatchImages"/> images, and runs them through one
/// <see cref="CadPipeline.Sample"/> call: one network pass per step for all of them. Each request
/// keeps its own seed, so its images do not depend on its neighbours' noise.</para>
/// </summary>
public sealed class ModelHost : IAsyncDisposable
{
    private sealed class LoadedModel(SnapshotInfo info, CadDenoiser denoiser, CadPipeline pipeline, string? coherenceBins = null, string? textEncoder = null)
    {
        private int refs = 1;  // the host's own reference, dropped when swapped out
        public SnapshotInfo Info { get; } = info;
        public string? CoherenceBins { get; } = coherenceBins;
        public string? TextEncoder { get; } = textEncoder;
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

    private sealed class Pending(SampleRequest request, SamplerSettings sampler, LoadedModel? model, CancellationToken cancel)
    {
        public SampleRequest Request { get; } = request;
        public SamplerSettings Sampler { get; } = sampler;
        /// <summary>The snapshot the request named (held by a reference until it ran), or null for the newest.</summary>
        public LoadedModel? Model { get; } = model;
        public CancellationToken Cancel { get; } = cancel;
        public TaskCompletionSource<SampleOutput> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration { get; set; }
        /// <summary>Denoising work asked for: one network pass per step for each image.</summary>
        public long Cost { get; } = RequestCost(request, sampler);
        // 0 while waiting; 1 once it left the queue (taken into a batch, dropped, or failed at shutdown).
        private int left;
        /// <summary>True for the one caller that takes it out of the queue; that caller frees its slot.</summary>
        public bool TryLeave() => Interlocked.Exchange(ref left, 1) == 0;
        public bool HasLeft => Volatile.Read(ref left) == 1;
    }

    /// <summary>What a request costs: images x denoising steps.</summary>
    public static long RequestCost(SampleRequest request, SamplerSettings sampler) => (long)request.Count * sampler.Steps;

    private readonly ServingOptions options;
    private readonly Device device;
    private readonly object swapGate = new();
    private readonly TorchWorker<Pending> worker;
    private readonly Func<long, CancellationToken, Task<(SnapshotInfo Info, byte[] Bytes)>>? fetch;
    // Older kept versions loaded for requests that name them, most recently used last.
    private readonly List<LoadedModel> versions = [];
    private readonly SemaphoreSlim loading = new(1, 1);
    private LoadedModel? current;
    private long? pinned;
    // Waiting requests and their summed cost; changed together under queueGate.
    private readonly object queueGate = new();
    private int queued;
    private long queuedCost;
    private int running;
    private volatile bool stopping;
    private readonly Func<string?>? encoderIdentity;
    private long batchesRun, networkPasses, imagesSampled, modelsDisposed, requestsDropped;

    /// <param name="fetch">Fetches a kept version's record and bytes from the store (checked), for requests that name a version.</param>
    /// <param name="encoderIdentity">The identity of the text encoder a snapshot must have learned from (a text model's: the node's); null or none: no check.</param>
    public ModelHost(ModelSpec spec, ServingOptions options, Device device,
        Func<long, CancellationToken, Task<(SnapshotInfo Info, byte[] Bytes)>>? fetch = null, Func<string?>? encoderIdentity = null)
    {
        this.fetch = fetch;
        this.encoderIdentity = encoderIdentity;
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

    /// <summary>The served snapshot's coherence bin table (JSON; what a score-derived c meant when it learned), or null.</summary>
    public string? CurrentCoherenceBins => Volatile.Read(ref current)?.CoherenceBins;

    /// <summary>The text encoder the served snapshot learned from, or null (class models).</summary>
    public string? CurrentTextEncoder => Volatile.Read(ref current)?.TextEncoder;

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
    public int QueueLength { get { lock (queueGate) return queued; } }

    /// <summary>Summed cost (images x steps) of the requests waiting for a batch.</summary>
    public long QueuedCost { get { lock (queueGate) return queuedCost; } }

    /// <summary>Requests in the batch running now.</summary>
    public int Running => Volatile.Read(ref running);

    /// <summary>Requests dropped from the queue unsampled because their caller gave up.</summary>
    public long RequestsDropped => Interlocked.Read(ref requestsDropped);

    /// <summary>The version this host is pinned to (a rollback), or null: it follows the newest.</summary>
    public long? PinnedVersion { get { lock (swapGate) return pinned; } }

    /// <summary>Pins the host to a version (the follower then serves it, old or not, until unpinned) or unpins it (null).</summary>
    public void Pin(long? version)
    {
        if (version is < 1) throw new ArgumentException($"a snapshot version is >= 1 (got {version})");
        lock (swapGate) pinned = version;
    }

    /// <summary>
    /// Parses and loads snapshot bytes (already checked against <paramref name="info"/> by the store)
    /// and swaps them in. Slow: call it off the request path. A version not newer than the served one
    /// is ignored (returns false).
    /// </summary>
    /// <param name="rollback">Install even when it is older than the served version (a pinned version).</param>
    public bool Install(SnapshotInfo info, byte[] snapshotBytes, bool rollback = false)
    {
        ArgumentNullException.ThrowIfNull(info);
        ArgumentNullException.ThrowIfNull(snapshotBytes);
        if (Current is { } served && (rollback ? served.Version == info.Version : served.Version >= info.Version)) return false;
        var loaded = Load(info, snapshotBytes);
        LoadedModel? old;
        lock (swapGate)
        {
            old = current;
            if (old is not null && (rollback ? old.Info.Version == info.Version : old.Info.Version >= info.Version)) old = loaded;  // lost a race
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

    LoadedModel Load(SnapshotInfo info, byte[] snapshotBytes)
    {
        var sha = CadSnapshot.Sha256Hex(snapshotBytes);
        if (!string.Equals(sha, info.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new SnapshotIntegrityException($"snapshot {ModelId} v{info.Version}: sha256 {sha} does not match the published {info.Sha256}");
        var snapshot = CadSnapshot.FromBytes(snapshotBytes);
        CheckCompatible(snapshot.Spec);
        var denoiser = snapshot.CreateDenoiser(device, encoderIdentity?.Invoke());
        return new LoadedModel(info, denoiser, new CadPipeline(denoiser, device), snapshot.CoherenceBins, snapshot.TextEncoder);
    }

    /// <summary>
    /// A reference to the network of a named version: the served one, one already loaded, or one fetched
    /// from the store now (kept loaded, the least recently used dropped past <see cref="ServingOptions.LoadedVersions"/>).
    /// Throws <see cref="SnapshotNotFoundException"/> when the store does not keep it.
    /// </summary>
    async Task<LoadedModel> AcquireVersionAsync(long version, CancellationToken cancel)
    {
        LoadedModel? Find()
        {
            lock (swapGate)
            {
                if (current is { } c && c.Info.Version == version) { c.AddRef(); return c; }
                var v = versions.FirstOrDefault(x => x.Info.Version == version);
                if (v is null) return null;
                versions.Remove(v);
                versions.Add(v);
                v.AddRef();
                return v;
            }
        }
        if (Find() is { } found) return found;
        if (fetch is null) throw new SnapshotNotFoundException($"model {ModelId}: this host cannot fetch snapshot versions");
        await loading.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            if (Find() is { } raced) return raced;
            var (info, bytes) = await fetch(version, cancel).ConfigureAwait(false);
            var loaded = await Task.Factory.StartNew(() => Load(info, bytes), cancel, TaskCreationOptions.LongRunning, TaskScheduler.Default)
                .ConfigureAwait(false);
            var dropped = new List<LoadedModel>();
            lock (swapGate)
            {
                versions.Add(loaded);  // the list's own reference
                while (versions.Count > Math.Max(1, options.LoadedVersions)) { dropped.Add(versions[0]); versions.RemoveAt(0); }
                loaded.AddRef();       // the caller's
            }
            foreach (var d in dropped) Release(d);
            return loaded;
        }
        finally { loading.Release(); }
    }

    void CheckCompatible(ModelSpec snapshot)
    {
        if (snapshot.Kind != Spec.Kind)
            throw new SnapshotFormatException($"snapshot for model {ModelId} has condition kind '{snapshot.Kind.Name()}', the catalog says '{Spec.Kind.Name()}'");
        if (Spec.Rules().Incompatibility(snapshot, Spec) is { } why)
            throw new SnapshotFormatException($"snapshot for model {ModelId} {why}");
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
    /// before the first snapshot, <see cref="RequestCostException"/> when the request alone costs too much,
    /// <see cref="QueueFullException"/> when the queue is full (in requests or cost). Cancelling the token
    /// takes a waiting request out of the queue at once.
    /// </summary>
    public Task<SampleOutput> SampleAsync(SampleRequest request, SamplerSettings sampler, CancellationToken cancellationToken = default) =>
        SampleAsync(request, sampler, version: null, cancellationToken);

    /// <param name="version">A kept snapshot version to sample from, or null for the one served now.</param>
    public Task<SampleOutput> SampleAsync(SampleRequest request, SamplerSettings sampler, long? version, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(sampler);
        var spec = CurrentSpec ?? throw new NoSnapshotException($"model {ModelId} has no snapshot loaded yet");
        request.Validate(spec);
        sampler.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(stopping, this);
        long cost = RequestCost(request, sampler);
        if (cost > options.MaxRequestCost)
            throw new RequestCostException(cost, options.MaxRequestCost,
                $"model {ModelId}: the request costs {cost} ({request.Count} images x {sampler.Steps} steps), more than the limit of {options.MaxRequestCost} " +
                "per request (Serving:MaxRequestCost); ask for fewer images or steps");
        // The slot is taken at once, so a full queue is refused before any work (a version to load, say).
        Reserve(cost);
        if (version is not long v) return Enqueue(request, sampler, null, cancellationToken);
        return NamedVersionAsync(v);

        async Task<SampleOutput> NamedVersionAsync(long named)
        {
            LoadedModel model;
            try { model = await AcquireVersionAsync(named, cancellationToken).ConfigureAwait(false); }
            catch
            {
                Unreserve(cost);
                throw;
            }
            return await Enqueue(request, sampler, model, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Takes a queue slot and its cost, or throws <see cref="QueueFullException"/>.</summary>
    void Reserve(long cost)
    {
        lock (queueGate)
        {
            if (queued >= options.MaxQueuedRequests)
                throw new QueueFullException($"model {ModelId}: the sampling queue is full ({options.MaxQueuedRequests} requests waiting); retry later");
            if (queuedCost + cost > options.MaxQueuedCost)
                throw new QueueFullException($"model {ModelId}: the sampling queue is full: {queuedCost} of the {options.MaxQueuedCost} " +
                    $"images x steps allowed to wait (Serving:MaxQueuedCost) are taken and this request costs {cost}; retry later");
            queued++;
            queuedCost += cost;
        }
    }

    void Unreserve(long cost)
    {
        lock (queueGate)
        {
            queued--;
            queuedCost -= cost;
        }
    }

    /// <summary>Hands a request whose queue slot is taken to the worker.</summary>
    Task<SampleOutput> Enqueue(SampleRequest request, SamplerSettings sampler, LoadedModel? model, CancellationToken cancellationToken)
    {
        var pending = new Pending(request, sampler, model, cancellationToken);
        // Registered first: a token cancelled already gives the request up here, before it is posted.
        if (cancellationToken.CanBeCanceled)
            pending.Registration = cancellationToken.Register(() => GiveUp(pending));
        if (pending.HasLeft) return pending.Completion.Task;
        if (!worker.TryPost(pending))
        {
            pending.Registration.Dispose();
            if (pending.TryLeave())
            {
                Unreserve(pending.Cost);
                if (model is not null) Release(model);
            }
            throw new QueueFullException($"model {ModelId}: the sampling queue is full; retry later");
        }
        return pending.Completion.Task;
    }

    /// <summary>
    /// The caller cancelled: a waiting request leaves the queue now (slot and cost freed, never sampled);
    /// one already in a batch only stops being waited for.
    /// </summary>
    void GiveUp(Pending p)
    {
        if (p.TryLeave())
        {
            worker.TryRemove(p);  // else it is in the worker's own list, which skips it
            Unreserve(p.Cost);
            if (p.Model is not null) Release(p.Model);
            Interlocked.Increment(ref requestsDropped);
        }
        p.Completion.TrySetCanceled(p.Cancel);
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
            if (!p.TryLeave()) continue;  // its caller gave up and freed it
            Unreserve(p.Cost);
            if (p.Model is not null) Release(p.Model);
            Complete(p, null, new ObjectDisposedException(nameof(ModelHost), $"model {ModelId} is shutting down"));
        }
    }

    /// <summary>
    /// Takes the oldest request and every later one that can share its batch: the same sampler settings
    /// and the same network (the newest for requests that name no version, else the one they named).
    /// </summary>
    List<Pending> TakeBatch(List<Pending> waiting)
    {
        var batch = new List<Pending>();
        int images = 0;
        Pending? head = null;
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
                if (!p.TryLeave()) continue;  // given up just now
                Unreserve(p.Cost);
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

    void RunBatch(List<Pending> batch)
    {
        // Requests that named a version each hold a reference to it; the others share one taken now.
        bool named = batch[0].Model is not null;
        var model = batch[0].Model ?? Acquire();
        void LetGo()
        {
            if (named) foreach (var p in batch) Release(p.Model!);
            else if (model is not null) Release(model);
        }
        if (model is null)
        {
            foreach (var p in batch) Complete(p, null, new NoSnapshotException($"model {ModelId} has no snapshot loaded yet"));
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
            foreach (var p in batch) Complete(p, null, e);
            return;
        }
        Volatile.Write(ref running, 0);
        // The outputs are CPU copies: let go of the network before answering, so a swapped-out one is freed at once.
        LetGo();
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
        List<LoadedModel> older;
        lock (swapGate)
        {
            last = current;
            current = null;
            older = [.. versions];
            versions.Clear();
        }
        if (last is not null) Release(last);
        foreach (var v in older) Release(v);
        return ValueTask.CompletedTask;
    }
}
