using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using CadStream.Snapshots;
using StackExchange.Redis;

namespace CadStream.Snapshots.Redis;

public sealed record RedisSnapshotStoreOptions
{
    /// <summary>Prefix of every key and of the channel (default <c>cad:</c>, docs/interfaces.md).</summary>
    public string KeyPrefix { get; init; } = "cad:";
    /// <summary>Largest value written in one command; bigger snapshots are split into parts of this size.</summary>
    public int PartSizeBytes { get; init; } = 1 << 20;
    /// <summary>Versions kept per model (the newest ones); older ones are deleted after each publish.</summary>
    public int KeepVersions { get; init; } = 3;
    /// <summary>Where non-fatal problems are reported (a subscriber that threw, a bad notice, a failed resync).</summary>
    public ILogger? Logger { get; init; }
    /// <summary>Signs every published record and checks every fetched one (<c>Snapshots:SigningKey</c>); null: neither.</summary>
    public SnapshotSigner? Signer { get; init; }
}

/// <summary>
/// Snapshot distribution through Redis (docs/interfaces.md, "Redis"). With prefix <c>P</c> (default <c>cad:</c>):
/// <list type="bullet">
/// <item><c>P model:{id}:latest</c> (hash): <c>version</c>, <c>sha256</c>, <c>bytes</c>, <c>steps</c>,
///   <c>samples</c>, <c>created</c> (unix ms), the published fields exactly.</item>
/// <item><c>P model:{id}:snapshot:{version}</c> (string): the snapshot bytes when they fit in one part
///   (<see cref="RedisSnapshotStoreOptions.PartSizeBytes"/>, 1 MiB by default), otherwise the first part.</item>
/// <item><c>P model:{id}:snapshot:{version}:part:{i}</c> (string), i = 1 .. parts-1: the following parts.
///   The blob is the concatenation of part 0 (the key above) and these, in order.</item>
/// <item><c>P model:{id}:snapshot:{version}:meta</c> (hash): that version's record, the latest fields plus
///   <c>parts</c>; a fetch of any kept version checks the bytes against it.</item>
/// <item><c>P model:{id}:versions</c> (sorted set, score = version): the stored versions, for pruning.</item>
/// <item><c>P models</c> (set): model ids that have snapshots, re-read after a reconnect.</item>
/// <item>Channel <c>P snapshots</c>: JSON <c>{"model": id, "version": n}</c>, published after the bytes,
///   the record and the latest pointer are written.</item>
/// </list>
/// Parts keep any one command small, so a large snapshot never blocks the shared connection for long.
/// The latest pointer is moved by a script that refuses to go back to a lower version. Messages sent
/// while a subscriber is disconnected are lost, so after every reconnect the subscriber re-reads the
/// latest pointers and hands them to its handler as notices.
/// </summary>
public sealed class RedisSnapshotStore : ISnapshotStore
{
    private const string SetLatestScript = """
        local cur = redis.call('HGET', KEYS[1], 'version')
        if cur and tonumber(cur) >= tonumber(ARGV[1]) then return tonumber(cur) end
        redis.call('HSET', KEYS[1], 'version', ARGV[1], 'sha256', ARGV[2], 'bytes', ARGV[3], 'steps', ARGV[4], 'samples', ARGV[5], 'created', ARGV[6])
        if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'signature', ARGV[8]) else redis.call('HDEL', KEYS[1], 'signature') end
        redis.call('ZADD', KEYS[2], ARGV[1], ARGV[1])
        redis.call('SADD', KEYS[3], ARGV[7])
        return -1
        """;

    private readonly IConnectionMultiplexer connection;
    private readonly bool ownsConnection;
    private readonly RedisSnapshotStoreOptions options;
    private readonly object gate = new();
    private readonly List<NoticePump> subscribers = [];
    private ChannelMessageQueue? channelQueue;
    private Task? subscribeTask;
    private readonly CancellationTokenSource lifetime = new();
    private bool disposed;

    public RedisSnapshotStore(IConnectionMultiplexer connection, RedisSnapshotStoreOptions? options = null, bool ownsConnection = false)
    {
        this.connection = connection ?? throw new ArgumentNullException(nameof(connection));
        this.options = options ?? new RedisSnapshotStoreOptions();
        this.ownsConnection = ownsConnection;
        if (this.options.PartSizeBytes < 1024) throw new ArgumentOutOfRangeException(nameof(options), "PartSizeBytes must be >= 1024");
        if (this.options.KeepVersions < 1) throw new ArgumentOutOfRangeException(nameof(options), "KeepVersions must be >= 1");
        ArgumentNullException.ThrowIfNull(this.options.KeyPrefix);
        connection.ConnectionRestored += OnConnectionRestored;
    }

    /// <summary>
    /// Connects to Redis (<paramref name="configuration"/>: "host:port" or a StackExchange.Redis
    /// configuration string). AbortOnConnectFail is off: the store keeps retrying in the background,
    /// so a node can start before Redis does.
    /// </summary>
    public static Task<RedisSnapshotStore> ConnectAsync(string configuration, RedisSnapshotStoreOptions? options = null) =>
        ConnectAsync(configuration, null, options);

    /// <summary>
    /// As above, with a password set as an option rather than spliced into the configuration string,
    /// where a ',' or '=' in it would be read as another option.
    /// </summary>
    public static async Task<RedisSnapshotStore> ConnectAsync(string configuration, string? password, RedisSnapshotStoreOptions? options = null)
    {
        var config = ConfigurationOptions.Parse(configuration);
        config.AbortOnConnectFail = false;
        if (!string.IsNullOrEmpty(password)) config.Password = password;
        var mux = await ConnectionMultiplexer.ConnectAsync(config).ConfigureAwait(false);
        return new RedisSnapshotStore(mux, options, ownsConnection: true);
    }

    public string KeyPrefix => options.KeyPrefix;
    public string Description => $"redis {string.Join(",", connection.GetEndPoints().Select(e => e.ToString()))} (prefix {options.KeyPrefix})";

    public RedisKeys Keys => new(options.KeyPrefix);
    public string LatestKey(string modelId) => Keys.Latest(modelId);
    public string SnapshotKey(string modelId, long version) => Keys.Snapshot(modelId, version);
    public string PartKey(string modelId, long version, int index) => Keys.Part(modelId, version, index);
    public string MetaKey(string modelId, long version) => Keys.Meta(modelId, version);
    public string VersionsKey(string modelId) => Keys.Versions(modelId);
    public string ModelsKey => Keys.Models;
    public RedisChannel Channel => RedisChannel.Literal(Keys.Channel);

    IDatabase Db => connection.GetDatabase();

    public async Task<SnapshotInfo> PublishAsync(string modelId, byte[] snapshotBytes, long version, long steps, long samples,
        CancellationToken cancellationToken = default)
    {
        SnapshotStores.CheckPublish(modelId, snapshotBytes, version, steps, samples);
        ObjectDisposedException.ThrowIf(disposed, this);
        var db = Db;
        var info = new SnapshotInfo(version, SnapshotStores.Sha256Hex(snapshotBytes), snapshotBytes.LongLength, steps, samples,
            DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        if (options.Signer is { } signer) info = signer.Signed(modelId, info);
        int partSize = options.PartSizeBytes;
        int parts = (int)Math.Max(1, (snapshotBytes.LongLength + partSize - 1) / partSize);

        // Refuse early so a version the store holds (the live latest among them) is never overwritten; the script
        // below re-checks atomically.
        var current = await db.HashGetAsync(LatestKey(modelId), "version").ConfigureAwait(false);
        long latestVersion = current.TryParse(out long lv) ? lv : 0;
        if (latestVersion >= version)
            throw new SnapshotVersionConflictException($"cannot publish {modelId} v{version}: the store already has v{latestVersion}", latestVersion);
        // Parts of a publish of this version that failed half-way are left over: they are overwritten, the
        // superfluous ones deleted below (no reader was ever pointed at them).
        var previousParts = (long?)await db.HashGetAsync(MetaKey(modelId, version), "parts").ConfigureAwait(false) ?? 0;

        // One part per command, one after the other: other traffic on the connection interleaves.
        for (int i = 0; i < parts; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int offset = i * partSize, length = (int)Math.Min(partSize, snapshotBytes.LongLength - offset);
            await db.StringSetAsync(PartKey(modelId, version, i), snapshotBytes.AsMemory(offset, length)).ConfigureAwait(false);
        }
        if (previousParts > parts)
            await db.KeyDeleteAsync(Enumerable.Range(parts, (int)previousParts - parts).Select(i => (RedisKey)PartKey(modelId, version, i)).ToArray())
                .ConfigureAwait(false);
        await db.HashSetAsync(MetaKey(modelId, version), [.. Fields(info), new HashEntry("parts", parts)]).ConfigureAwait(false);

        // The pointer moves only now, when the bytes and the record are complete.
        var newer = (long)await db.ScriptEvaluateAsync(SetLatestScript,
            [LatestKey(modelId), VersionsKey(modelId), ModelsKey],
            [version, info.Sha256, info.Bytes, steps, samples, info.Created, modelId, info.Signature ?? ""]).ConfigureAwait(false);
        if (newer >= 0)
        {
            if (newer != version) await DeleteVersionAsync(db, modelId, version).ConfigureAwait(false);
            throw new SnapshotVersionConflictException($"cannot publish {modelId} v{version}: the store already has v{newer}", newer);
        }

        await WaitForAofAsync(db).ConfigureAwait(false);

        var notice = JsonSerializer.Serialize(new { model = modelId, version });
        await connection.GetSubscriber().PublishAsync(Channel, notice).ConfigureAwait(false);
        await PruneAsync(db, modelId).ConfigureAwait(false);
        return info;
    }

    private volatile bool noWaitAof;

    /// <summary>
    /// Durability: on Redis 7.2 and later with the append-only file on, WAITAOF 1 0 returns once the local
    /// AOF has fsynced everything this connection wrote (the AOF is appended in order, so the bytes before
    /// the pointer too); only then does a publish return and a trainer acknowledge its pairs. Older servers
    /// (Debian 12 has 7.0) or a server without the AOF do not have it: the store then relies on the
    /// server's appendfsync policy (everysec: up to about a second of writes can be lost in a crash) and
    /// says so once in the log.
    /// </summary>
    async Task WaitForAofAsync(IDatabase db)
    {
        if (noWaitAof) return;
        try { await db.ExecuteAsync("WAITAOF", 1, 0, 5000).ConfigureAwait(false); }
        catch (RedisServerException e)
        {
            noWaitAof = true;
            Warn($"the Redis server does not confirm AOF fsyncs (WAITAOF: {e.Message}); snapshots are as durable as its appendfsync policy makes them");
        }
    }

    static HashEntry[] Fields(SnapshotInfo info) =>
    [
        new("version", info.Version), new("sha256", info.Sha256), new("bytes", info.Bytes),
        new("steps", info.Steps), new("samples", info.Samples), new("created", info.Created),
        .. info.Signature is null ? Array.Empty<HashEntry>() : [new HashEntry("signature", info.Signature)],
    ];

    static SnapshotInfo? ParseInfo(HashEntry[] fields)
    {
        if (fields.Length == 0) return null;
        var map = fields.ToDictionary(f => f.Name.ToString(), f => f.Value);
        long Long(string name) => map.TryGetValue(name, out var v) && v.TryParse(out long n) ? n
            : throw new InvalidDataException($"snapshot record field '{name}' is missing or not a number");
        var sha = map.TryGetValue("sha256", out var s) && !s.IsNullOrEmpty ? s.ToString()
            : throw new InvalidDataException("snapshot record field 'sha256' is missing");
        var signature = map.TryGetValue("signature", out var sig) && !sig.IsNullOrEmpty ? sig.ToString() : null;
        return new SnapshotInfo(Long("version"), sha, Long("bytes"), Long("steps"), Long("samples"), Long("created"), signature);
    }

    async Task PruneAsync(IDatabase db, string modelId)
    {
        // Everything but the newest KeepVersions entries of the sorted set (ranks 0 .. -(K+1)).
        var old = await db.SortedSetRangeByRankAsync(VersionsKey(modelId), 0, -(options.KeepVersions + 1)).ConfigureAwait(false);
        foreach (var v in old)
            if (v.TryParse(out long version))
                await DeleteVersionAsync(db, modelId, version).ConfigureAwait(false);
    }

    async Task DeleteVersionAsync(IDatabase db, string modelId, long version)
    {
        var parts = (long?)await db.HashGetAsync(MetaKey(modelId, version), "parts").ConfigureAwait(false) ?? 1;
        var keys = Enumerable.Range(0, (int)Math.Max(1, parts)).Select(i => (RedisKey)PartKey(modelId, version, i))
            .Append(MetaKey(modelId, version)).ToArray();
        await db.KeyDeleteAsync(keys).ConfigureAwait(false);
        await db.SortedSetRemoveAsync(VersionsKey(modelId), version).ConfigureAwait(false);
    }

    public async Task<SnapshotInfo?> GetLatestAsync(string modelId, CancellationToken cancellationToken = default)
    {
        SnapshotStores.CheckModelId(modelId);
        return ParseInfo(await Db.HashGetAllAsync(LatestKey(modelId)).ConfigureAwait(false));
    }

    public async Task<IReadOnlyList<SnapshotInfo>> ListVersionsAsync(string modelId, CancellationToken cancellationToken = default)
    {
        SnapshotStores.CheckModelId(modelId);
        var db = Db;
        var versions = await db.SortedSetRangeByRankAsync(VersionsKey(modelId)).ConfigureAwait(false);
        var kept = new List<SnapshotInfo>();
        foreach (var v in versions)
            if (v.TryParse(out long version) && ParseInfo(await db.HashGetAllAsync(MetaKey(modelId, version)).ConfigureAwait(false)) is { } info)
                kept.Add(info);
        return kept.OrderBy(i => i.Version).ToArray();
    }

    public async Task<byte[]> FetchAsync(string modelId, long version, CancellationToken cancellationToken = default)
    {
        SnapshotStores.CheckModelId(modelId);
        var db = Db;
        var metaFields = await db.HashGetAllAsync(MetaKey(modelId, version)).ConfigureAwait(false);
        var meta = ParseInfo(metaFields)
            ?? throw new SnapshotNotFoundException($"snapshot {modelId} v{version} is not in Redis ({MetaKey(modelId, version)} is missing)");
        var partsValue = metaFields.FirstOrDefault(f => f.Name == "parts").Value;
        if (!partsValue.TryParse(out long parts) || parts < 1)
            throw new SnapshotIntegrityException($"snapshot {modelId} v{version} has no valid part count in {MetaKey(modelId, version)}");
        // The latest pointer is what serving nodes were told to trust; check against it when it names this version.
        var latest = await GetLatestAsync(modelId, cancellationToken).ConfigureAwait(false);
        var expected = latest is not null && latest.Version == version ? latest : meta;
        // Size and signature before any allocation: the record sizes the buffer below.
        SnapshotStores.CheckRecord(modelId, expected, options.Signer);
        if (parts > (expected.Bytes + 1023) / 1024 + 1)
            throw new SnapshotRejectedException($"snapshot {modelId} v{version} declares {parts} parts for {expected.Bytes} bytes", "bounds");

        var result = new byte[expected.Bytes];
        long offset = 0;
        for (int i = 0; i < parts; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var part = (byte[]?)await db.StringGetAsync(PartKey(modelId, version, i)).ConfigureAwait(false)
                ?? throw new SnapshotNotFoundException($"snapshot {modelId} v{version}: part {i} of {parts} is missing ({PartKey(modelId, version, i)})");
            if (offset + part.Length > result.Length)
                throw new SnapshotIntegrityException($"snapshot {modelId} v{version} is corrupt: its parts hold more than the {expected.Bytes} bytes recorded");
            part.CopyTo(result, offset);
            offset += part.Length;
        }
        if (offset != result.Length)
            throw new SnapshotIntegrityException($"snapshot {modelId} v{version} is corrupt: {offset} bytes stored, {expected.Bytes} recorded");
        SnapshotStores.Verify(modelId, version, result, expected.Bytes, expected.Sha256);
        return result;
    }

    public IAsyncDisposable Subscribe(Func<SnapshotNotice, Task> onNewSnapshot)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var pump = new NoticePump(onNewSnapshot, options.Logger, p => { lock (gate) subscribers.Remove(p); });
        lock (gate)
        {
            subscribers.Add(pump);
            subscribeTask ??= SubscribeChannelAsync(lifetime.Token);
        }
        return pump;
    }

    /// <summary>One channel subscription per store, shared by its subscribers; retried until Redis answers.</summary>
    async Task SubscribeChannelAsync(CancellationToken cancel)
    {
        while (!cancel.IsCancellationRequested)
        {
            try
            {
                var queue = await connection.GetSubscriber().SubscribeAsync(Channel).ConfigureAwait(false);
                queue.OnMessage(OnChannelMessage);
                lock (gate)
                {
                    if (disposed) { _ = queue.UnsubscribeAsync(); return; }
                    channelQueue = queue;
                }
                return;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                Warn($"snapshot channel subscription failed, retrying: {e.Message}");
                try { await Task.Delay(TimeSpan.FromSeconds(1), cancel).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    void OnChannelMessage(ChannelMessage message)
    {
        SnapshotNotice? notice = null;
        try
        {
            using var doc = JsonDocument.Parse((string)message.Message!);
            var root = doc.RootElement;
            if (root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String
                && root.TryGetProperty("version", out var v) && v.TryGetInt64(out var version))
                notice = new SnapshotNotice(m.GetString()!, version);
        }
        catch (JsonException) { }
        if (notice is null) { Warn($"ignored a malformed snapshot notice on {Channel}: {message.Message}"); return; }
        Post(notice);
    }

    void Post(SnapshotNotice notice)
    {
        NoticePump[] targets;
        lock (gate) targets = subscribers.ToArray();
        foreach (var s in targets) s.Post(notice);
    }

    void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        bool any;
        lock (gate) any = subscribers.Count > 0 && !disposed;
        if (any) _ = ResyncAsync();
    }

    /// <summary>Notices published while disconnected are lost: announce every model's latest pointer instead.</summary>
    async Task ResyncAsync()
    {
        try
        {
            var db = Db;
            foreach (var id in await db.SetMembersAsync(ModelsKey).ConfigureAwait(false))
            {
                var modelId = id.ToString();
                var version = await db.HashGetAsync(LatestKey(modelId), "version").ConfigureAwait(false);
                if (version.TryParse(out long v)) Post(new SnapshotNotice(modelId, v));
            }
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            Warn($"could not re-read the latest snapshot pointers after a reconnect: {e.Message}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        NoticePump[] pumps;
        ChannelMessageQueue? queue;
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            pumps = subscribers.ToArray();
            queue = channelQueue;
        }
        connection.ConnectionRestored -= OnConnectionRestored;
        lifetime.Cancel();
        if (subscribeTask is not null) await subscribeTask.ConfigureAwait(false);
        if (queue is not null)
        {
            try { await queue.UnsubscribeAsync().ConfigureAwait(false); }
            catch (Exception e) when (e is RedisException or TimeoutException) { }
        }
        foreach (var p in pumps) await p.DisposeAsync().ConfigureAwait(false);
        if (ownsConnection) await connection.DisposeAsync().ConfigureAwait(false);
        lifetime.Dispose();
    }

    void Warn(string message) => options.Logger?.LogWarning("{Message}", message);
}

/// <summary>The names of the store's keys and channel under a prefix (docs/interfaces.md, "Redis").</summary>
public sealed record RedisKeys(string Prefix)
{
    public string Latest(string modelId) => $"{Prefix}model:{modelId}:latest";
    public string Snapshot(string modelId, long version) => $"{Prefix}model:{modelId}:snapshot:{version.ToString(CultureInfo.InvariantCulture)}";
    /// <summary>Key of part <paramref name="index"/>; part 0 is <see cref="Snapshot"/> itself.</summary>
    public string Part(string modelId, long version, int index) =>
        index == 0 ? Snapshot(modelId, version) : $"{Snapshot(modelId, version)}:part:{index.ToString(CultureInfo.InvariantCulture)}";
    public string Meta(string modelId, long version) => $"{Snapshot(modelId, version)}:meta";
    public string Versions(string modelId) => $"{Prefix}model:{modelId}:versions";
    public string Models => $"{Prefix}models";
    public string Channel => $"{Prefix}snapshots";
}
