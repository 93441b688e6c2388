using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace CadStream.Snapshots;

/// <summary>
/// What a store records about one stored snapshot (docs/interfaces.md: the fields of
/// <c>cad:model:{id}:latest</c>).
/// </summary>
/// <param name="Version">Snapshot version; grows with every publish of a model.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the whole snapshot blob.</param>
/// <param name="Bytes">Length of the blob.</param>
/// <param name="Steps">Training steps the weights reflect.</param>
/// <param name="Samples">Training pairs seen.</param>
/// <param name="Created">When it was published, unix milliseconds.</param>
/// <param name="Signature">Hex HMAC-SHA256 of the record by the trainer's <c>Snapshots:SigningKey</c> (<see cref="SnapshotSigner"/>); null when unsigned.</param>
public sealed record SnapshotInfo(long Version, string Sha256, long Bytes, long Steps, long Samples, long Created, string? Signature = null);

/// <summary>A store saying that model <paramref name="ModelId"/> has snapshot <paramref name="Version"/>.</summary>
public sealed record SnapshotNotice(string ModelId, long Version);

/// <summary>
/// A publish refused because the store already holds that version or a newer one: versions are never
/// reused. <see cref="StoreLatest"/> is the store's latest version (publish above it).
/// </summary>
public sealed class SnapshotVersionConflictException(string message, long storeLatest) : InvalidOperationException(message)
{
    public long StoreLatest { get; } = storeLatest;
}

/// <summary>Raised when stored snapshot bytes do not match their recorded SHA-256 or length.</summary>
public class SnapshotIntegrityException(string message) : Exception(message)
{
    /// <summary>The <c>reason</c> label of <c>cad_snapshot_rejected_total</c>.</summary>
    public virtual string Reason => "integrity";
}

/// <summary>
/// Raised when a snapshot's record is not signed by the configured <c>Snapshots:SigningKey</c> (reason <c>unsigned</c> or
/// <c>signature</c>) or declares more than a node accepts (reason <c>bounds</c>): refused before its bytes are read.
/// </summary>
public sealed class SnapshotRejectedException(string message, string reason) : SnapshotIntegrityException(message)
{
    public override string Reason { get; } = reason;
}

/// <summary>Raised when a snapshot version is not (or no longer) in the store.</summary>
public sealed class SnapshotNotFoundException(string message) : Exception(message);

/// <summary>
/// Distributes snapshots from trainers to serving nodes. Implementations: the Redis store
/// (CadStream.Snapshots.Redis, docs/interfaces.md) and <see cref="FolderSnapshotStore"/> (the embedded default). Both keep only
/// the newest few versions of each model.
/// </summary>
public interface ISnapshotStore : IAsyncDisposable
{
    /// <summary>Where snapshots live, for logs and /v1/status (e.g. "redis 127.0.0.1:6379 (prefix cad:)").</summary>
    string Description { get; }

    /// <summary>
    /// Stores the bytes durably, then moves the model's latest pointer to them, then notifies subscribers.
    /// A version the store already holds, or one not above its latest, is refused
    /// (<see cref="SnapshotVersionConflictException"/>): a version is never written twice, so a retry after
    /// a failure uses a new version.
    /// </summary>
    Task<SnapshotInfo> PublishAsync(string modelId, byte[] snapshotBytes, long version, long steps, long samples,
        CancellationToken cancellationToken = default);

    /// <summary>The model's latest pointer, or null when it has no snapshot yet.</summary>
    Task<SnapshotInfo?> GetLatestAsync(string modelId, CancellationToken cancellationToken = default);

    /// <summary>The records of the versions the store keeps for the model, oldest first (empty when none).</summary>
    Task<IReadOnlyList<SnapshotInfo>> ListVersionsAsync(string modelId, CancellationToken cancellationToken = default);

    /// <summary>
    /// The bytes of one stored version, checked against the SHA-256 and length recorded when it was
    /// published. Throws <see cref="SnapshotIntegrityException"/> on a mismatch and
    /// <see cref="SnapshotNotFoundException"/> when the version is not stored.
    /// </summary>
    Task<byte[]> FetchAsync(string modelId, long version, CancellationToken cancellationToken = default);

    /// <summary>
    /// Calls <paramref name="onNewSnapshot"/> for new snapshots of any model, one call at a time
    /// per subscription. A notice can repeat or arrive late (for example after a reconnect): treat
    /// it as "look at the latest pointer". Dispose the result to stop.
    /// </summary>
    IAsyncDisposable Subscribe(Func<SnapshotNotice, Task> onNewSnapshot);
}

/// <summary>Shared argument checks of the snapshot stores.</summary>
public static partial class SnapshotStores
{
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex ModelIdPattern();

    /// <summary>Model ids become key and folder names: letters, digits, '.', '_' and '-', up to 128 characters.</summary>
    public static void CheckModelId(string modelId)
    {
        if (modelId is null || !ModelIdPattern().IsMatch(modelId))
            throw new ArgumentException($"model id '{modelId}' is not valid: use letters, digits, '.', '_' and '-' (up to 128 characters)");
    }

    /// <summary>Largest snapshot a store reads (1 GiB): a record declaring more is refused before anything is allocated.</summary>
    public const long MaxSnapshotBytes = 1L << 30;

    /// <summary>
    /// The checks a fetch makes on a record before reading its bytes: its declared size within bounds and, when a signer
    /// is configured, its signature. Throws <see cref="SnapshotRejectedException"/>.
    /// </summary>
    public static void CheckRecord(string modelId, SnapshotInfo record, SnapshotSigner? signer)
    {
        if (record.Bytes is < 1 or > MaxSnapshotBytes)
            throw new SnapshotRejectedException($"snapshot {modelId} v{record.Version} declares {record.Bytes} bytes; a snapshot holds 1 to {MaxSnapshotBytes}", "bounds");
        signer?.Verify(modelId, record);
    }

    public static void CheckPublish(string modelId, byte[] snapshotBytes, long version, long steps, long samples)
    {
        CheckModelId(modelId);
        ArgumentNullException.ThrowIfNull(snapshotBytes);
        if (snapshotBytes.Length == 0) throw new ArgumentException("snapshot bytes are empty");
        if (version < 1) throw new ArgumentOutOfRangeException(nameof(version), $"snapshot version must be >= 1 (got {version})");
        if (steps < 0) throw new ArgumentOutOfRangeException(nameof(steps), "steps must be >= 0");
        if (samples < 0) throw new ArgumentOutOfRangeException(nameof(samples), "samples must be >= 0");
    }

    /// <summary>Hex SHA-256 of a whole snapshot blob, as recorded next to it (docs/interfaces.md, Redis).</summary>
    public static string Sha256Hex(ReadOnlySpan<byte> blob) => Convert.ToHexStringLower(SHA256.HashData(blob));

    /// <summary>Checks fetched bytes against their record; the message says which model and version.</summary>
    public static void Verify(string modelId, long version, byte[] bytes, long expectedBytes, string expectedSha256)
    {
        if (bytes.LongLength != expectedBytes)
            throw new SnapshotIntegrityException(
                $"snapshot {modelId} v{version} is corrupt: {bytes.LongLength} bytes stored, {expectedBytes} recorded");
        var sha = SnapshotStores.Sha256Hex(bytes);
        if (!string.Equals(sha, expectedSha256, StringComparison.OrdinalIgnoreCase))
            throw new SnapshotIntegrityException(
                $"snapshot {modelId} v{version} is corrupt: sha256 {sha} does not match the recorded {expectedSha256}");
    }

    internal static async Task InvokeSafely(Func<SnapshotNotice, Task> handler, SnapshotNotice notice, ILogger? logger)
    {
        try { await handler(notice).ConfigureAwait(false); }
        catch (Exception e) { logger?.LogWarning("snapshot subscriber failed on {Model} v{Version}: {Error}", notice.ModelId, notice.Version, e.Message); }
    }
}

/// <summary>
/// One subscription: notices go through an unbounded queue to the handler, one call at a time,
/// so a slow handler never blocks the store's connection or poll loop.
/// </summary>
public sealed class NoticePump : IAsyncDisposable
{
    private readonly System.Threading.Channels.Channel<SnapshotNotice> queue =
        System.Threading.Channels.Channel.CreateUnbounded<SnapshotNotice>(new() { SingleReader = true });
    private readonly Task pump;
    private readonly Action<NoticePump>? onDispose;
    private int disposed;

    public NoticePump(Func<SnapshotNotice, Task> handler, ILogger? logger, Action<NoticePump>? onDispose = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        this.onDispose = onDispose;
        pump = Task.Run(async () =>
        {
            await foreach (var notice in queue.Reader.ReadAllAsync().ConfigureAwait(false))
                await SnapshotStores.InvokeSafely(handler, notice, logger).ConfigureAwait(false);
        });
    }

    public void Post(SnapshotNotice notice) => queue.Writer.TryWrite(notice);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        onDispose?.Invoke(this);
        queue.Writer.TryComplete();
        await pump.ConfigureAwait(false);
    }
}
