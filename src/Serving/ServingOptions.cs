namespace CadStream.Serving;

/// <summary>Settings of the serving stage (config section "Serving").</summary>
public sealed record ServingOptions
{
    /// <summary>Most images one batched sampling call runs (a single larger request still runs, alone).</summary>
    public int MaxBatchImages { get; init; } = 64;
    /// <summary>Requests that may wait per model; one more gets 429.</summary>
    public int MaxQueuedRequests { get; init; } = 64;
    /// <summary>
    /// Most work one sampling request may ask for, as images x denoising steps (count x steps): one
    /// network pass per step for each image. 6400 = a full batch of 64 images at 100 steps, or 6 images at
    /// the 1000-step maximum; the default request (1 image, 50 steps) costs 50. Larger requests get 429.
    /// </summary>
    public long MaxRequestCost { get; init; } = 64 * 100;
    /// <summary>
    /// Most cost (images x steps) that may wait per model, beside <see cref="MaxQueuedRequests"/>: bounds
    /// how long the last request in the queue waits. Per model, because each model samples on its own thread.
    /// </summary>
    public long MaxQueuedCost { get; init; } = 4 * 64 * 100;
    /// <summary>
    /// What rebuilding a snapshot version that is not kept loaded costs a request naming it (images x steps,
    /// added to the request's own cost and held to <see cref="MaxRequestCost"/>): a request for an old version
    /// cannot make the node fetch and rebuild it for free. 1000 leaves such a request 5400 of the default 6400.
    /// </summary>
    public long VersionRebuildCost { get; init; } = 1000;
    /// <summary>How often the latest snapshot pointers are read, besides the store's notifications.</summary>
    public TimeSpan SnapshotPollInterval { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>
    /// Denoising steps when a request names none: the fewest within 5 % of DDIM-50's FID, DPM-Solver++ at 15
    /// on the demo's CAD model (docs/results/cpu/steps-curve).
    /// </summary>
    public int DefaultSteps { get; init; } = 15;
    /// <summary>Sampler when a request names none: ddim, ddpm or dpm++.</summary>
    public string DefaultSampler { get; init; } = "dpm++";
    /// <summary>Columns of the PNG grid (fewer when fewer images).</summary>
    public int GridColumns { get; init; } = 8;
    /// <summary>Largest request body accepted.</summary>
    public int MaxBodyBytes { get; init; } = 64 * 1024;
    /// <summary>Live sample quality: a new snapshot samples its fixed set when the model's previous reading ended this long ago (0 = off).</summary>
    public double QualityEverySeconds { get; init; } = 45;
    /// <summary>
    /// Images per class in the fixed set (each at its own fixed seed): 10 gives 100 images for ten classes, so one
    /// image moves the figure by 0.01.
    /// </summary>
    public int QualityPerClass { get; init; } = 10;
    /// <summary>
    /// DDIM steps of the fixed set. 10: the judge's accuracy is flat from 5 to 50 steps (docs/results/cpu/steps-curve:
    /// 0.868 at 10, 0.862 at 20), and a reading costs half of 20's, cores the trainers beside it need.
    /// </summary>
    public int QualitySteps { get; init; } = 10;
    /// <summary>Seed of class 0's images; class k uses this + k.</summary>
    public long QualitySeed { get; init; } = 1000;
    /// <summary>Pinned snapshot versions by model id (a rollback): served until unpinned (PUT/DELETE /v1/models/{id}/pin).</summary>
    public Dictionary<string, long> Pins { get; init; } = new(StringComparer.Ordinal);
    /// <summary>Older kept versions a serving node holds loaded at once besides the current one (requests naming a version).</summary>
    public int LoadedVersions { get; init; } = 2;

    /// <summary>Value equality, the pins included (a record alone compares the dictionary by reference).</summary>
    public bool Equals(ServingOptions? other) =>
        other is not null && (ReferenceEquals(this, other) || System.Text.Json.JsonSerializer.Serialize(this) == System.Text.Json.JsonSerializer.Serialize(other));

    public override int GetHashCode() => System.Text.Json.JsonSerializer.Serialize(this).GetHashCode(StringComparison.Ordinal);

    public void Validate()
    {
        if (MaxBatchImages < 1) throw new ArgumentException("Serving:MaxBatchImages must be >= 1");
        if (MaxQueuedRequests < 1) throw new ArgumentException("Serving:MaxQueuedRequests must be >= 1");
        if (MaxRequestCost < 1) throw new ArgumentException("Serving:MaxRequestCost must be >= 1");
        if (MaxRequestCost < DefaultSteps)
            throw new ArgumentException($"Serving:MaxRequestCost ({MaxRequestCost}) must be >= Serving:DefaultSteps ({DefaultSteps}), or a default request is refused");
        if (VersionRebuildCost < 0) throw new ArgumentException("Serving:VersionRebuildCost must be >= 0");
        if (MaxQueuedCost < MaxRequestCost)
            throw new ArgumentException($"Serving:MaxQueuedCost ({MaxQueuedCost}) must be >= Serving:MaxRequestCost ({MaxRequestCost}), or the largest allowed request could never wait");
        if (SnapshotPollInterval <= TimeSpan.Zero) throw new ArgumentException("Serving:SnapshotPollInterval must be positive");
        if (DefaultSteps is < 1 or > 1000) throw new ArgumentException("Serving:DefaultSteps must be in 1..1000");
        try { Model.Scheduling.SamplerKinds.Parse(DefaultSampler); }
        catch (ArgumentException e) { throw new ArgumentException($"Serving:DefaultSampler: {e.Message}"); }
        if (GridColumns < 1) throw new ArgumentException("Serving:GridColumns must be >= 1");
        if (MaxBodyBytes < 1024) throw new ArgumentException("Serving:MaxBodyBytes must be >= 1024");
        if (QualityEverySeconds < 0) throw new ArgumentException("Serving:QualityEverySeconds must be >= 0");
        if (QualityPerClass is < 1 or > 64) throw new ArgumentException("Serving:QualityPerClass must be in 1..64");
        if (QualitySteps is < 1 or > 1000) throw new ArgumentException("Serving:QualitySteps must be in 1..1000");
        if (LoadedVersions < 0) throw new ArgumentException("Serving:LoadedVersions must be >= 0");
    }
}
