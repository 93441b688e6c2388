using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace CadStream.Snapshots;

public sealed record FolderSnapshotStoreOptions
{
    /// <summary>Versions kept per model (the newest ones); older ones are deleted after each publish.</summary>
    public int KeepVersions { get; init; } = 3;
    /// <summary>How often subscribers look at the latest pointers for snapshots written by other processes.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Where non-fatal problems are reported (a subscriber that threw, an unreadable pointer).</summary>
    public ILogger? Logger { get; init; }
    /// <summary>Signs every published record and checks every fetched one (<c>Snapshots:SigningKey</c>); null: neither.</summary>
    public SnapshotSigner? Signer { get; init; }
}

/// <summary>
/// The embedded snapshot store (no Redis): one folder per model under <c>Root</c>.
/// <list type="bullet">
/// <item><c>{id}/{version}.cadsnap</c>: the snapshot bytes.</item>
/// <item><c>{id}/{version}.json</c>: that version's record (<see cref="SnapshotInfo"/> as JSON:
///   version, sha256, bytes, steps, samples, created, signature when signed), checked on fetch.</item>
/// <item><c>{id}/latest.json</c>: the latest pointer, the same JSON.</item>
/// </list>
/// Every file is written to a temporary name, synced to disk, renamed into place, and its folder synced,
/// and the pointer is moved only after the bytes and record are in place, so a reader in any process
/// never sees half a snapshot and a publish that returned survives a power loss.
/// Subscribers in this process are told at once; other processes see a new snapshot through
/// polling of the latest pointers (<see cref="FolderSnapshotStoreOptions.PollInterval"/>). Publishes
/// are serialised within one store instance; run one publisher per model across processes.
/// </summary>
public sealed class FolderSnapshotStore : ISnapshotStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly FolderSnapshotStoreOptions options;
    private readonly SemaphoreSlim publishGate = new(1, 1);
    private readonly object subscribersGate = new();
    private readonly List<NoticePump> subscribers = [];
    /// <summary>Highest version already announced per model, so a publish and a poll never both announce it.</summary>
    private readonly Dictionary<string, long> announced = new(StringComparer.Ordinal);
    private CancellationTokenSource? pollCancel;
    private Task? pollLoop;
    private bool disposed;

    public FolderSnapshotStore(string root, FolderSnapshotStoreOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        this.options = options ?? new FolderSnapshotStoreOptions();
        if (this.options.KeepVersions < 1) throw new ArgumentOutOfRangeException(nameof(options), "KeepVersions must be >= 1");
        if (this.options.PollInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(options), "PollInterval must be positive");
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string Description => $"folder {Root}";

    string ModelDir(string modelId) => Path.Combine(Root, modelId);
    string LatestPath(string modelId) => Path.Combine(ModelDir(modelId), "latest.json");
    string RecordPath(string modelId, long version) => Path.Combine(ModelDir(modelId), version.ToString(CultureInfo.InvariantCulture) + ".json");

    /// <summary>Path of one version's bytes (tests and tools read or damage it directly).</summary>
    public string SnapshotPath(string modelId, long version) =>
        Path.Combine(ModelDir(modelId), version.ToString(CultureInfo.InvariantCulture) + ".cadsnap");

    public async Task<SnapshotInfo> PublishAsync(string modelId, byte[] snapshotBytes, long version, long steps, long samples,
        CancellationToken cancellationToken = default)
    {
        SnapshotStores.CheckPublish(modelId, snapshotBytes, version, steps, samples);
        ObjectDisposedException.ThrowIf(disposed, this);
        var info = new SnapshotInfo(version, SnapshotStores.Sha256Hex(snapshotBytes), snapshotBytes.LongLength, steps, samples,
            DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        if (options.Signer is { } signer) info = signer.Signed(modelId, info);
        await publishGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Directory.CreateDirectory(ModelDir(modelId));
            var latest = ReadRecord(LatestPath(modelId));
            if (latest is not null && latest.Version >= version)
                throw new SnapshotVersionConflictException(
                    $"cannot publish {modelId} v{version}: the store already has v{latest.Version}", latest.Version);
            if (File.Exists(RecordPath(modelId, version)) || File.Exists(SnapshotPath(modelId, version)))
                throw new SnapshotVersionConflictException(
                    $"cannot publish {modelId} v{version}: the store already holds v{version}", latest?.Version ?? version);
            await WriteAtomicAsync(SnapshotPath(modelId, version), snapshotBytes, cancellationToken).ConfigureAwait(false);
            var record = JsonSerializer.SerializeToUtf8Bytes(info, Json);
            await WriteAtomicAsync(RecordPath(modelId, version), record, cancellationToken).ConfigureAwait(false);
            // The pointer moves last: from here on readers are sent to bytes that are complete.
            await WriteAtomicAsync(LatestPath(modelId), record, CancellationToken.None).ConfigureAwait(false);
            Prune(modelId);
        }
        finally { publishGate.Release(); }
        Announce(new SnapshotNotice(modelId, version));
        return info;
    }

    public Task<SnapshotInfo?> GetLatestAsync(string modelId, CancellationToken cancellationToken = default)
    {
        SnapshotStores.CheckModelId(modelId);
        return Task.FromResult(ReadRecord(LatestPath(modelId)));
    }

    public Task<IReadOnlyList<SnapshotInfo>> ListVersionsAsync(string modelId, CancellationToken cancellationToken = default)
    {
        SnapshotStores.CheckModelId(modelId);
        var dir = ModelDir(modelId);
        if (!Directory.Exists(dir)) return Task.FromResult<IReadOnlyList<SnapshotInfo>>([]);
        var kept = Directory.EnumerateFiles(dir, "*.cadsnap")
            .Select(p => long.TryParse(Path.GetFileNameWithoutExtension(p), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1)
            .Where(v => v > 0)
            .Select(v => ReadRecord(RecordPath(modelId, v)))
            .OfType<SnapshotInfo>()
            .OrderBy(i => i.Version)
            .ToArray();
        return Task.FromResult<IReadOnlyList<SnapshotInfo>>(kept);
    }

    public async Task<byte[]> FetchAsync(string modelId, long version, CancellationToken cancellationToken = default)
    {
        SnapshotStores.CheckModelId(modelId);
        var record = ReadRecord(RecordPath(modelId, version));
        var latest = ReadRecord(LatestPath(modelId));
        if (latest is not null && latest.Version == version) record = latest;
        if (record is null) throw new SnapshotNotFoundException($"snapshot {modelId} v{version} is not in {Root}");
        SnapshotStores.CheckRecord(modelId, record, options.Signer);
        byte[] bytes;
        try { bytes = await File.ReadAllBytesAsync(SnapshotPath(modelId, version), cancellationToken).ConfigureAwait(false); }
        catch (FileNotFoundException) { throw new SnapshotNotFoundException($"snapshot {modelId} v{version} is not in {Root} (its bytes were removed)"); }
        catch (DirectoryNotFoundException) { throw new SnapshotNotFoundException($"snapshot {modelId} v{version} is not in {Root}"); }
        SnapshotStores.Verify(modelId, version, bytes, record.Bytes, record.Sha256);
        return bytes;
    }

    public IAsyncDisposable Subscribe(Func<SnapshotNotice, Task> onNewSnapshot)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var pump = new NoticePump(onNewSnapshot, options.Logger, p => { lock (subscribersGate) subscribers.Remove(p); });
        lock (subscribersGate)
        {
            subscribers.Add(pump);
            if (pollLoop is null)
            {
                // What is already there counts as announced: a subscriber reads the latest pointers itself.
                foreach (var (id, version) in ScanLatest()) announced[id] = Math.Max(announced.GetValueOrDefault(id), version);
                pollCancel = new CancellationTokenSource();
                pollLoop = PollAsync(pollCancel.Token);
            }
        }
        return pump;
    }

    void Announce(SnapshotNotice notice)
    {
        NoticePump[] targets;
        lock (subscribersGate)
        {
            if (announced.TryGetValue(notice.ModelId, out var seen) && seen >= notice.Version) return;
            announced[notice.ModelId] = Math.Max(seen, notice.Version);
            targets = subscribers.ToArray();
        }
        foreach (var s in targets) s.Post(notice);
    }

    async Task PollAsync(CancellationToken cancel)
    {
        using var timer = new PeriodicTimer(options.PollInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancel).ConfigureAwait(false))
                foreach (var (id, version) in ScanLatest())
                    Announce(new SnapshotNotice(id, version));
        }
        catch (OperationCanceledException) { }
    }

    IEnumerable<(string Id, long Version)> ScanLatest()
    {
        IEnumerable<string> dirs;
        try { dirs = Directory.EnumerateDirectories(Root).ToArray(); }
        catch (IOException e) { Warn($"snapshot folder {Root} cannot be listed: {e.Message}"); yield break; }
        foreach (var dir in dirs)
        {
            var id = Path.GetFileName(dir);
            var latest = ReadRecord(Path.Combine(dir, "latest.json"));
            if (latest is not null) yield return (id, latest.Version);
        }
    }

    SnapshotInfo? ReadRecord(string path)
    {
        try
        {
            var info = JsonSerializer.Deserialize<SnapshotInfo>(File.ReadAllBytes(path), Json);
            return info is { Sha256: not null } ? info : null;
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
        catch (JsonException e)
        {
            Warn($"snapshot record {path} is not valid JSON: {e.Message}");
            return null;
        }
    }

    static async Task WriteAtomicAsync(string path, byte[] bytes, CancellationToken cancellationToken)
    {
        var tmp = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            await using (var f = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                await f.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
                await f.FlushAsync(cancellationToken).ConfigureAwait(false);
                f.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
            // The rename itself is durable only once the folder's entry is on disk too.
            SyncDirectory(Path.GetDirectoryName(path)!);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>fsync of a directory (POSIX); a no-op where the OS has no such call.</summary>
    static void SyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd = Posix.open(directory, Posix.O_RDONLY | Posix.O_DIRECTORY);
        if (fd < 0) throw new IOException($"cannot open folder {directory} to sync it (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})");
        try
        {
            if (Posix.fsync(fd) != 0)
                throw new IOException($"cannot sync folder {directory} (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})");
        }
        finally { _ = Posix.close(fd); }
    }

    static class Posix
    {
        public const int O_RDONLY = 0, O_DIRECTORY = 0x10000;  // Linux values (x86-64 and arm64)
        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true, CharSet = System.Runtime.InteropServices.CharSet.Ansi)]
        public static extern int open(string path, int flags);
        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);
        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
    }

    void Prune(string modelId)
    {
        var versions = Directory.EnumerateFiles(ModelDir(modelId), "*.cadsnap")
            .Select(p => long.TryParse(Path.GetFileNameWithoutExtension(p), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1)
            .Where(v => v > 0)
            .OrderByDescending(v => v)
            .ToArray();
        foreach (var old in versions.Skip(options.KeepVersions))
        {
            try
            {
                File.Delete(RecordPath(modelId, old));
                File.Delete(SnapshotPath(modelId, old));
            }
            catch (IOException e) { Warn($"could not delete old snapshot {modelId} v{old}: {e.Message}"); }
        }
    }

    public async ValueTask DisposeAsync()
    {
        NoticePump[] pumps;
        Task? loop;
        lock (subscribersGate)
        {
            if (disposed) return;
            disposed = true;
            pumps = subscribers.ToArray();
            loop = pollLoop;
            pollCancel?.Cancel();
        }
        if (loop is not null) await loop.ConfigureAwait(false);
        foreach (var p in pumps) await p.DisposeAsync().ConfigureAwait(false);
        pollCancel?.Dispose();
        publishGate.Dispose();
    }

    void Warn(string message) => options.Logger?.LogWarning("{Message}", message);
}
