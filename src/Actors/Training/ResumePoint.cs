using CadStream.Model;
using CadStream.Snapshots;
using Microsoft.Extensions.Logging;

namespace CadStream.Actors.Training;

/// <summary>
/// Where a trainer entity resumes: the bytes of the stored snapshot <paramref name="Version"/> (null and 0 for a
/// new model) and the store's latest version, which may be above it when the latest did not verify (the next
/// snapshot is numbered above it).
/// </summary>
internal sealed record ResumePoint(long Version, byte[]? Bytes, long StoreLatest)
{
    /// <summary>
    /// The newest stored snapshot of <paramref name="modelId"/> that verifies (its SHA-256 and format): the latest,
    /// else the newest older kept version (a latest that fails its check is skipped with a warning). Throws when none
    /// verifies or the store cannot be read, which restarts the entity's start with back-off.
    /// </summary>
    public static async Task<ResumePoint> NewestVerifiedAsync(ISnapshotStore store, string modelId, ILogger logger)
    {
        var latest = await store.GetLatestAsync(modelId).ConfigureAwait(false);
        if (latest is null) return new ResumePoint(0, null, 0);
        var problems = new List<string>();
        var candidates = new List<long> { latest.Version };
        candidates.AddRange((await store.ListVersionsAsync(modelId).ConfigureAwait(false))
            .Select(k => k.Version).Where(v => v < latest.Version).OrderDescending());
        foreach (var version in candidates)
        {
            try
            {
                var bytes = await store.FetchAsync(modelId, version).ConfigureAwait(false);
                _ = CadSnapshot.FromBytes(bytes);  // format and checksum, before a worker builds on it
                if (problems.Count > 0)
                    logger.LogWarning("trainer {Model}: resuming from v{Version}, the newest snapshot that verifies ({Problems})",
                        modelId, version, string.Join("; ", problems));
                return new ResumePoint(version, bytes, latest.Version);
            }
            catch (Exception e) when (e is SnapshotIntegrityException or SnapshotFormatException or SnapshotNotFoundException)
            {
                problems.Add($"v{version}: {e.Message}");
            }
        }
        throw new SnapshotFormatException($"no kept snapshot of {modelId} verifies: {string.Join("; ", problems)}");
    }
}
