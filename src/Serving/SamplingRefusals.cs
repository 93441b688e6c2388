namespace CadStream.Serving;

// Why a model host refuses a sample request; each has its own HTTP answer (docs/interfaces.md, "HTTP").

/// <summary>The model's sampling queue is full, in requests or in waiting cost (HTTP 429).</summary>
public sealed class QueueFullException(string message) : Exception(message);

/// <summary>One request asks for more work (images x steps) than <see cref="ServingOptions.MaxRequestCost"/> allows (HTTP 429).</summary>
public sealed class RequestCostException(long cost, long limit, string message) : Exception(message)
{
    public long Cost { get; } = cost;
    public long Limit { get; } = limit;
}

/// <summary>The model has no snapshot loaded yet (HTTP 503).</summary>
public sealed class NoSnapshotException(string message) : Exception(message);
