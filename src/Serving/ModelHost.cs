using CadStream.Catalog;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Runtime;
using CadStream.Snapshots;
using static TorchSharp.torch;

namespace CadStream.Serving;

/// <summary>
/// Serves one model: holds the loaded snapshot and runs queued requests in batches on its
/// <see cref="TorchWorker{T}"/>, the one thread that runs this model's network. Its parts:
/// <para>Swapping (<see cref="LoadedModels"/>, checks by <see cref="SnapshotLoader"/>): <see cref="Install"/> builds the
/// new network on the caller's thread (a loader, never the request path) and swaps it in under a lock. A batch takes a
/// reference to the model it starts with and keeps it to the end, so requests in flight finish on their weights; the old
/// network is disposed when its last batch releases it.</para>
/// <para>Queue (<see cref="SampleQueue"/>): a request holds a slot and its cost (images x steps) from the moment it is
/// accepted until its batch starts. A request whose caller gives up (the HTTP client went away) leaves the queue
/// at once: its slot and cost are free again and it is never sampled. One already in a running batch
/// finishes with it, its answer dropped.</para>
/// <para>Batching (<see cref="SampleBatcher"/>): the worker takes every waiting request that shares the first one's sampler
/// settings, up to <see cref="ServingOptions.MaxBatchImages"/> images, and runs them through one
/// <see cref="CadPipeline.Sample"/> call: one network pass per step for all of them. Each request
/// keeps its own seed, so its images do not depend on its neighbours' noise.</para>
/// </summary>
public sealed class ModelHost : IAsyncDisposable
{
    /// <summary>What a request costs: images x denoising steps.</summary>
    public static long RequestCost(SampleRequest request, SamplerSettings sampler) => (long)request.Count * sampler.Steps;

    private readonly ServingOptions options;
    private readonly TorchWorker<PendingSample> worker;
    private readonly LoadedModels models;
    private readonly SampleQueue queue;
    private readonly SampleBatcher batcher;
    private volatile bool stopping;

    /// <param name="fetch">Fetches a kept version's record and bytes from the store (checked), for requests that name a version.</param>
    /// <param name="encoderIdentity">The identity of the text encoder a snapshot must have learned from (a text model's: the node's); null or none: no check.</param>
    public ModelHost(ModelSpec spec, ServingOptions options, Device device,
        Func<long, CancellationToken, Task<(SnapshotInfo Info, byte[] Bytes)>>? fetch = null, Func<string?>? encoderIdentity = null)
    {
        Spec = spec ?? throw new ArgumentNullException(nameof(spec));
        this.options = options ?? throw new ArgumentNullException(nameof(options));
        options.Validate();
        models = new LoadedModels(spec.Id, new SnapshotLoader(spec, device, encoderIdentity), options, fetch);
        worker = new TorchWorker<PendingSample>($"cad-sample-{spec.Id}", options.MaxQueuedRequests);
        queue = new SampleQueue(spec.Id, options, worker, models);
        batcher = new SampleBatcher(spec.Id, options, queue, models);
        worker.Start(batcher.Run);
    }

    public ModelSpec Spec { get; }
    public string ModelId => Spec.Id;

    /// <summary>The snapshot now served, or null before the first one is installed.</summary>
    public SnapshotInfo? Current => models.Current?.Info;

    /// <summary>The served snapshot's coherence bin table (JSON; what a score-derived c meant when it learned), or null.</summary>
    public System.Text.Json.JsonElement? CurrentCoherenceBins => models.Current?.CoherenceBins;

    /// <summary>The text encoder the served snapshot learned from, or null (class models).</summary>
    public string? CurrentTextEncoder => models.Current?.TextEncoder;

    /// <summary>The served snapshot's spec (class names, default guidance), or null.</summary>
    public ModelSpec? CurrentSpec => models.Current?.Pipeline.Spec;

    /// <summary>Guidance used when a request names none: the served snapshot's, else the catalog's.</summary>
    public double DefaultGuidance => (CurrentSpec ?? Spec).DefaultGuidance;

    /// <summary>Ends when the sampling thread ends; faulted if it failed.</summary>
    public Task Completion => worker.Completion;

    /// <summary>Batched sampling calls run so far (each is Steps network passes for all its requests).</summary>
    public long BatchesRun => batcher.BatchesRun;
    /// <summary>Network forward passes run so far (sum of the batches' step counts).</summary>
    public long NetworkPasses => batcher.NetworkPasses;
    public long ImagesSampled => batcher.ImagesSampled;
    /// <summary>Swapped-out networks disposed so far (after their last batch).</summary>
    public long ModelsDisposed => models.Disposed;

    /// <summary>Requests waiting for a batch (not counting the one running).</summary>
    public int QueueLength => queue.Length;

    /// <summary>Summed cost (images x steps) of the requests waiting for a batch.</summary>
    public long QueuedCost => queue.Cost;

    /// <summary>Requests in the batch running now.</summary>
    public int Running => batcher.Running;

    /// <summary>Requests dropped from the queue unsampled because their caller gave up.</summary>
    public long RequestsDropped => queue.Dropped;

    /// <summary>The version this host is pinned to (a rollback), or null: it follows the newest.</summary>
    public long? PinnedVersion => models.PinnedVersion;

    /// <summary>Pins the host to a version (the follower then serves it, old or not, until unpinned) or unpins it (null).</summary>
    public void Pin(long? version) => models.Pin(version);

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
        return models.Install(info, snapshotBytes, rollback);
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
        // A version not kept loaded is fetched and rebuilt for this request: that work counts against its budget.
        if (version is long old && !models.IsLoaded(old) && cost + options.VersionRebuildCost > options.MaxRequestCost)
            throw new RequestCostException(cost + options.VersionRebuildCost, options.MaxRequestCost,
                $"model {ModelId}: version {old} is not kept loaded; rebuilding it costs {options.VersionRebuildCost} (Serving:VersionRebuildCost) " +
                $"on top of the request's {cost}, more than the limit of {options.MaxRequestCost} per request (Serving:MaxRequestCost); ask for fewer images or steps");
        // The slot is taken at once, so a full queue is refused before any work (a version to load, say).
        queue.Reserve(cost);
        if (version is not long v) return queue.Enqueue(request, sampler, null, cancellationToken);
        return NamedVersionAsync(v);

        async Task<SampleOutput> NamedVersionAsync(long named)
        {
            LoadedModel model;
            try { model = await models.AcquireVersionAsync(named, cancellationToken).ConfigureAwait(false); }
            catch
            {
                queue.Unreserve(cost);
                throw;
            }
            return await queue.Enqueue(request, sampler, model, cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync()
    {
        if (stopping) return ValueTask.CompletedTask;
        stopping = true;
        // The batch in progress finishes first; requests still queued fail.
        worker.RequestStop();
        worker.Join(Timeout.InfiniteTimeSpan);
        models.ReleaseAll();
        return ValueTask.CompletedTask;
    }
}
