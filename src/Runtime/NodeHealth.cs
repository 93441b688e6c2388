using Microsoft.Extensions.Logging;

namespace CadStream.Runtime;

/// <summary>
/// The one failure policy of a node's long-lived parts (Kafka consumer, trainer workers, snapshot
/// follower): a part that faults restarts after a back-off that doubles from <see cref="MinBackoff"/>
/// to <see cref="MaxBackoff"/>; after <see cref="FailuresBeforeUnhealthy"/> failures in a row the node
/// reports itself unhealthy (/healthz 503) while the part keeps retrying. A part that ran for
/// <see cref="StableAfter"/> before failing starts its count again.
/// </summary>
public sealed record RestartPolicy
{
    public TimeSpan MinBackoff { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);
    public int FailuresBeforeUnhealthy { get; init; } = 3;
    public TimeSpan StableAfter { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long to wait before restart number <paramref name="failures"/> (1 = the first).</summary>
    public TimeSpan Backoff(int failures)
    {
        double seconds = MinBackoff.TotalSeconds * Math.Pow(2, Math.Clamp(failures - 1, 0, 30));
        return TimeSpan.FromSeconds(Math.Min(seconds, MaxBackoff.TotalSeconds));
    }

    public void Validate()
    {
        if (MinBackoff <= TimeSpan.Zero || MaxBackoff < MinBackoff) throw new ArgumentException("restart back-off must be positive and MaxBackoff >= MinBackoff");
        if (FailuresBeforeUnhealthy < 1) throw new ArgumentException("FailuresBeforeUnhealthy must be >= 1");
    }
}

public enum PartState { Starting, Running, Restarting, Failed }

/// <summary>Where one long-lived part stands.</summary>
public sealed record PartStatus(string Part, PartState State, int Failures, string? LastError, DateTimeOffset Since);

/// <summary>
/// The health of this node's long-lived parts, as /healthz and /v1/status report it. Parts report
/// here the moment something happens (started, running, failed, given up), so a failure shows
/// without anyone asking the part. Thread-safe.
/// </summary>
public sealed class NodeHealth(RestartPolicy policy, ILogger<NodeHealth>? logger = null)
{
    private readonly object gate = new();
    private readonly Dictionary<string, (PartStatus Status, DateTimeOffset RunningSince)> parts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> troubles = new(StringComparer.Ordinal);
    private string? fatal;

    public RestartPolicy Policy { get; } = policy;

    /// <summary>Raised after a part's state changed (on the reporting thread).</summary>
    public event Action<PartStatus>? Changed;

    public void Starting(string part) => Set(part, PartState.Starting, keepFailures: true, error: null);

    public void Running(string part) => Set(part, PartState.Running, keepFailures: true, error: null);

    /// <summary>
    /// The part failed; returns how long to wait before restarting it. Logs one warning line that
    /// says what failed, how often in a row, and when it is tried again.
    /// </summary>
    public TimeSpan Failed(string part, Exception error)
    {
        PartStatus status;
        TimeSpan delay;
        lock (gate)
        {
            var now = DateTimeOffset.UtcNow;
            int failures = 1;
            if (parts.TryGetValue(part, out var old))
            {
                bool wasStable = old.Status.State == PartState.Running && now - old.RunningSince >= Policy.StableAfter;
                failures = wasStable ? 1 : old.Status.Failures + 1;
            }
            delay = Policy.Backoff(failures);
            status = new PartStatus(part, PartState.Restarting, failures, Describe(error), now);
            parts[part] = (status, now);
        }
        logger?.LogWarning("{Part} failed ({Failures} in a row): {Error}; restarting in {Delay:F1} s",
            part, status.Failures, status.LastError, delay.TotalSeconds);
        Changed?.Invoke(status);
        return delay;
    }

    /// <summary>The part cannot go on and will not restart: the node is unhealthy for good.</summary>
    public void FailedForGood(string part, string reason)
    {
        PartStatus status;
        lock (gate)
        {
            int failures = parts.TryGetValue(part, out var old) ? old.Status.Failures : 0;
            status = new PartStatus(part, PartState.Failed, failures, reason, DateTimeOffset.UtcNow);
            parts[part] = (status, status.Since);
            fatal ??= $"{part}: {reason}";
        }
        logger?.LogError("{Part} failed for good: {Reason}", part, reason);
        Changed?.Invoke(status);
    }

    /// <summary>
    /// A running part reports a problem it works around but cannot fix (the DLQ refusing copies): /healthz
    /// answers 503 with it until the part reports null. Unlike <see cref="FailedForGood"/>, the node keeps running.
    /// </summary>
    public void Trouble(string part, string? problem)
    {
        lock (gate)
        {
            if (problem is null) troubles.Remove(part);
            else troubles[part] = problem;
        }
    }

    /// <summary>The part is gone on purpose (a trainer handed off to another node).</summary>
    public void Remove(string part)
    {
        lock (gate) parts.Remove(part);
    }

    public IReadOnlyList<PartStatus> Parts
    {
        get { lock (gate) return parts.Values.Select(p => p.Status).OrderBy(p => p.Part, StringComparer.Ordinal).ToArray(); }
    }

    /// <summary>Null while healthy; otherwise what is wrong, in one line.</summary>
    public string? Problem
    {
        get
        {
            lock (gate)
            {
                if (fatal is not null) return fatal;
                var bad = parts.Values.Select(p => p.Status)
                    .Where(s => s.State == PartState.Failed || (s.State != PartState.Running && s.Failures >= Policy.FailuresBeforeUnhealthy))
                    .OrderBy(s => s.Part, StringComparer.Ordinal).ToArray();
                var all = bad.Select(s => $"{s.Part} failed {s.Failures} times in a row: {s.LastError}")
                    .Concat(troubles.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $"{t.Key}: {t.Value}")).ToArray();
                return all.Length == 0 ? null : string.Join("; ", all);
            }
        }
    }

    public bool IsHealthy => Problem is null;

    void Set(string part, PartState state, bool keepFailures, string? error)
    {
        PartStatus status;
        lock (gate)
        {
            var now = DateTimeOffset.UtcNow;
            parts.TryGetValue(part, out var old);
            int failures = keepFailures && old.Status is not null ? old.Status.Failures : 0;
            if (old.Status is not null && old.Status.State == state) return;
            status = new PartStatus(part, state, failures, error ?? old.Status?.LastError, now);
            parts[part] = (status, state == PartState.Running ? now : old.RunningSince);
        }
        Changed?.Invoke(status);
    }

    static string Describe(Exception e) => $"{e.GetType().Name}: {e.Message.Split('\n')[0].Trim()}";
}
