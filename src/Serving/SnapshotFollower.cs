using System.Collections.Concurrent;
using CadStream.Model;
using CadStream.Snapshots;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CadStream.Serving;

/// <summary>
/// Keeps every <see cref="ModelHost"/> on its model's latest snapshot: reads the latest pointers at
/// start, on each store notice, and every <see cref="ServingOptions.SnapshotPollInterval"/> as a
/// fallback for lost notices. Fetching (with the store's sha256 check), parsing and building the
/// network happen on a loader thread, never on a request. A snapshot that fails to load is logged,
/// the old one keeps serving, and that same version is not tried again. It runs as one of the
/// node's long-lived parts (<see cref="RunAsync"/>), under the node's restart policy.
/// </summary>
public sealed class SnapshotFollower
{
    private readonly ISnapshotStore store;
    private readonly IReadOnlyDictionary<string, ModelHost> hosts;
    private readonly TimeSpan pollInterval;
    private readonly ILogger logger;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> gates = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (long Version, string Sha256)> failed = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> lastErrors = new(StringComparer.Ordinal);
    private long checks;

    public SnapshotFollower(ISnapshotStore store, IEnumerable<ModelHost> hosts, TimeSpan pollInterval, ILogger? logger = null)
    {
        this.store = store ?? throw new ArgumentNullException(nameof(store));
        this.hosts = hosts.ToDictionary(h => h.ModelId, StringComparer.Ordinal);
        if (pollInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(pollInterval));
        this.pollInterval = pollInterval;
        this.logger = logger ?? NullLogger.Instance;
        foreach (var id in this.hosts.Keys) gates[id] = new SemaphoreSlim(1, 1);
        // Exported at 0 from the start, so dashboards and alerts see the series before the first refusal.
        foreach (var id in this.hosts.Keys)
            foreach (var reason in new[] { "unsigned", "signature", "bounds", "integrity", "format" })
                ServingMetrics.SnapshotRejected.WithLabels(id, reason);
    }

    /// <summary>Raised after a model switched to a new snapshot.</summary>
    public event Action<string, SnapshotInfo>? Loaded;

    /// <summary>Checks of the store done (by notice or poll, any model, whatever they found): how a caller knows the follower had its chance.</summary>
    public long Checks => Interlocked.Read(ref checks);

    /// <summary>The last load failure per model (cleared by a successful load).</summary>
    public IReadOnlyDictionary<string, string> LastErrors => lastErrors;

    /// <summary>
    /// Follows the store until <paramref name="stop"/>: subscribes (before the first read, so a snapshot
    /// published in between is not missed), calls <paramref name="up"/>, then reads the latest pointers now
    /// and every poll interval. Faults only when the store cannot be subscribed to at all.
    /// </summary>
    public async Task RunAsync(CancellationToken stop, Action? up = null)
    {
        await using var subscription = store.Subscribe(notice =>
            hosts.ContainsKey(notice.ModelId) ? CheckAsync(notice.ModelId, stop) : Task.CompletedTask);
        up?.Invoke();
        try
        {
            while (true)
            {
                foreach (var id in hosts.Keys) await CheckAsync(id, stop).ConfigureAwait(false);
                await Task.Delay(pollInterval, stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
    }

    /// <summary>
    /// Loads the model's latest snapshot if it is newer than the served one. Returns true when it
    /// switched. Never throws for store or snapshot problems (they are logged and kept in <see cref="LastErrors"/>).
    /// </summary>
    public async Task<bool> CheckAsync(string modelId, CancellationToken cancellationToken = default)
    {
        if (!hosts.TryGetValue(modelId, out var host)) throw new ArgumentException($"unknown model '{modelId}'");
        var gate = gates[modelId];
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        SnapshotInfo? latest = null;
        try
        {
            // A pinned host serves its pinned version, older or not; the others the newest.
            bool rollback = host.PinnedVersion is not null;
            if (host.PinnedVersion is long pin)
            {
                if (host.Current?.Version == pin) return false;
                latest = await KeptAsync(modelId, pin, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                latest = await store.GetLatestAsync(modelId, cancellationToken).ConfigureAwait(false);
                // After an unpin the served version is older than the newest, so this installs the newest again.
                if (latest is null || (host.Current is { } served && served.Version >= latest.Version)) return false;
            }
            if (failed.TryGetValue(modelId, out var bad) && bad == (latest.Version, latest.Sha256)) return false;
            var bytes = await store.FetchAsync(modelId, latest.Version, cancellationToken).ConfigureAwait(false);
            var info = latest;
            // Parsing and building the network take a while: a thread of their own, away from requests and the store's callbacks.
            bool switched = await Task.Factory.StartNew(() => host.Install(info, bytes, rollback), cancellationToken,
                TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
            if (switched)
            {
                lastErrors.TryRemove(modelId, out _);
                failed.TryRemove(modelId, out _);
                logger.LogInformation("model {Model}: serving snapshot v{Version} (step {Steps}, {Samples} samples)",
                    modelId, latest.Version, latest.Steps, latest.Samples);
                Loaded?.Invoke(modelId, latest);
            }
            return switched;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { throw; }
        catch (Exception e) when (e is SnapshotIntegrityException or SnapshotFormatException)
        {
            // Remembered, so the same version is neither fetched nor counted again; the served one goes on.
            if (latest is not null)
            {
                failed[modelId] = (latest.Version, latest.Sha256);
                ServingMetrics.SnapshotRejected.WithLabels(modelId, e is SnapshotIntegrityException i ? i.Reason : "format").Inc();
            }
            Fail(modelId, e);
            // Nothing served yet: the newest older kept version that verifies is better than nothing.
            return host.Current is null && host.PinnedVersion is null && latest is not null
                && await FallBackAsync(host, latest.Version, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Store unreachable, version pruned between read and fetch, out of memory...: try again at the next poll.
            return Fail(modelId, e);
        }
        finally
        {
            gate.Release();
            Interlocked.Increment(ref checks);
        }
    }

    /// <summary>The record of a kept version; <see cref="SnapshotNotFoundException"/> when the store does not keep it.</summary>
    public async Task<SnapshotInfo> KeptAsync(string modelId, long version, CancellationToken cancellationToken = default)
    {
        var kept = await store.ListVersionsAsync(modelId, cancellationToken).ConfigureAwait(false);
        return kept.FirstOrDefault(k => k.Version == version)
            ?? throw new SnapshotNotFoundException($"model {modelId} has no kept snapshot v{version}; kept: {(kept.Count == 0 ? "none" : string.Join(", ", kept.Select(k => "v" + k.Version)))}");
    }

    /// <summary>A kept version's record and its bytes (checked by the store), for a request that names it.</summary>
    public async Task<(SnapshotInfo Info, byte[] Bytes)> FetchVersionAsync(string modelId, long version, CancellationToken cancellationToken = default)
    {
        var info = await KeptAsync(modelId, version, cancellationToken).ConfigureAwait(false);
        return (info, await store.FetchAsync(modelId, version, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Installs the newest kept version below <paramref name="below"/> that verifies; false when none does.</summary>
    async Task<bool> FallBackAsync(ModelHost host, long below, CancellationToken cancellationToken)
    {
        var kept = await store.ListVersionsAsync(host.ModelId, cancellationToken).ConfigureAwait(false);
        foreach (var info in kept.Where(k => k.Version < below).OrderByDescending(k => k.Version))
        {
            try
            {
                var bytes = await store.FetchAsync(host.ModelId, info.Version, cancellationToken).ConfigureAwait(false);
                bool switched = await Task.Factory.StartNew(() => host.Install(info, bytes), cancellationToken,
                    TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
                if (!switched) continue;
                logger.LogWarning("model {Model}: serving v{Version}, the newest kept snapshot that verifies (v{Bad} did not)", host.ModelId, info.Version, below);
                Loaded?.Invoke(host.ModelId, info);
                return true;
            }
            catch (Exception e) when (e is SnapshotIntegrityException or SnapshotFormatException or SnapshotNotFoundException)
            {
                logger.LogWarning("model {Model}: kept snapshot v{Version} does not verify either: {Error}", host.ModelId, info.Version, e.Message);
            }
        }
        return false;
    }

    bool Fail(string modelId, Exception e)
    {
        var message = $"{e.GetType().Name}: {e.Message}";
        if (!lastErrors.TryGetValue(modelId, out var before) || before != message)
            logger.LogWarning("model {Model}: snapshot not loaded: {Error}", modelId, message);
        lastErrors[modelId] = message;
        return false;
    }
}
