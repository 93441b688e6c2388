namespace CadStream.Serving;

/// <summary>Settings of the serving stage (config section "Serving").</summary>
public sealed record ServingOptions
{
    /// <summary>Most images one batched sampling call runs (a single larger request still runs, alone).</summary>
    public int MaxBatchImages { get; init; } = 64;
    /// <summary>Requests that may wait per model; one more gets 429.</summary>
    public int MaxQueuedRequests { get; init; } = 64;
    /// <summary>How often the latest snapshot pointers are read, besides the store's notifications.</summary>
    public TimeSpan SnapshotPollInterval { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Denoising steps when a request names none (docs/interfaces.md: 50).</summary>
    public int DefaultSteps { get; init; } = 50;
    /// <summary>Columns of the PNG grid (fewer when fewer images).</summary>
    public int GridColumns { get; init; } = 8;
    /// <summary>Largest request body accepted.</summary>
    public int MaxBodyBytes { get; init; } = 64 * 1024;

    public void Validate()
    {
        if (MaxBatchImages < 1) throw new ArgumentException("Serving:MaxBatchImages must be >= 1");
        if (MaxQueuedRequests < 1) throw new ArgumentException("Serving:MaxQueuedRequests must be >= 1");
        if (SnapshotPollInterval <= TimeSpan.Zero) throw new ArgumentException("Serving:SnapshotPollInterval must be positive");
        if (DefaultSteps is < 1 or > 1000) throw new ArgumentException("Serving:DefaultSteps must be in 1..1000");
        if (GridColumns < 1) throw new ArgumentException("Serving:GridColumns must be >= 1");
        if (MaxBodyBytes < 1024) throw new ArgumentException("Serving:MaxBodyBytes must be >= 1024");
    }
}
