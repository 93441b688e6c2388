using System.Text.Json;
using System.Threading.Channels;
using CadStream.Model;
using CadStream.Snapshots;
using CadStream.Snapshots.Redis;
using StackExchange.Redis;

namespace CadStream.Tests.Snapshots.Redis;

/// <summary>The Redis store against a real redis-server, laid out as contract section 3 says.</summary>
public sealed class RedisSnapshotStoreTests(RedisServer redis) : SnapshotStoreContract, IClassFixture<RedisServer>
{
    // Each test gets its own prefix, so tests running side by side never see each other's keys or notices.
    private readonly string prefix = $"t{Guid.NewGuid():N}"[..12] + ":";

    protected override async Task<ISnapshotStore> NewStoreAsync(int keepVersions) =>
        await RedisSnapshotStore.ConnectAsync(redis.Endpoint, new RedisSnapshotStoreOptions { KeyPrefix = prefix, KeepVersions = keepVersions });

    protected override async Task CorruptAsync(string modelId, long version)
    {
        // Damage a byte in part 2 (the blobs in these tests span several 1 MiB parts).
        var db = redis.Admin.GetDatabase();
        var key = $"{prefix}model:{modelId}:snapshot:{version}:part:2";
        var b = (byte[])(await db.StringGetRangeAsync(key, 10, 10))!;
        Assert.Single(b);
        await db.StringSetRangeAsync(key, 10, new byte[] { (byte)(b[0] ^ 0xFF) });
    }

    IDatabase Db => redis.Admin.GetDatabase();

    protected override Task ListeningAsync(int subscribers) => SubscribersAsync($"{prefix}snapshots", subscribers);

    /// <summary>Waits until Redis counts that many connections subscribed to the channel (PUBSUB NUMSUB).</summary>
    async Task SubscribersAsync(string channel, int count)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var reply = (RedisResult[])(await Db.ExecuteAsync("PUBSUB", "NUMSUB", channel))!;
            if ((long)reply[1] >= count) return;
            if (clock.Elapsed > TimeSpan.FromSeconds(15)) throw new TimeoutException($"{channel} has {(long)reply[1]} subscribers, expected {count}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task A_password_with_commas_and_equals_signs_reaches_redis_whole()
    {
        // Spliced into a configuration string, ',' and '=' would split it into other options.
        const string password = "p,ass=word,ssl=true";
        var guarded = new RedisServer { Password = password };
        await guarded.InitializeAsync();
        try
        {
            await using var store = await RedisSnapshotStore.ConnectAsync(guarded.Endpoint, password);
            var blob = Blob(10_000, 5);
            await store.PublishAsync("guarded", blob, 1, 10, 640);
            Assert.Equal(blob, await store.FetchAsync("guarded", 1));
        }
        finally { await guarded.DisposeAsync(); }
    }

    [Fact]
    public async Task Latest_hash_and_snapshot_key_follow_the_contract_with_the_default_prefix()
    {
        await using var store = await RedisSnapshotStore.ConnectAsync(redis.Endpoint);
        var id = NewModelId();
        var blob = Blob(50_000, 11);
        var info = await store.PublishAsync(id, blob, 3, 600, 38_400);

        var latest = (await Db.HashGetAllAsync($"cad:model:{id}:latest")).ToDictionary(e => e.Name.ToString(), e => e.Value.ToString());
        Assert.Equal(["bytes", "created", "samples", "sha256", "steps", "version"], latest.Keys.Order());
        Assert.Equal("3", latest["version"]);
        Assert.Equal(CadSnapshot.Sha256Hex(blob), latest["sha256"]);
        Assert.Equal("50000", latest["bytes"]);
        Assert.Equal("600", latest["steps"]);
        Assert.Equal("38400", latest["samples"]);
        Assert.Equal(info.Created.ToString(), latest["created"]);
        // Small enough for one part: the snapshot key holds the whole blob.
        Assert.Equal(blob, (byte[])(await Db.StringGetAsync($"cad:model:{id}:snapshot:3"))!);
        Assert.False(await Db.KeyExistsAsync($"cad:model:{id}:snapshot:3:part:1"));
    }

    [Fact]
    public async Task A_large_snapshot_is_stored_in_parts()
    {
        await using var store = await RedisSnapshotStore.ConnectAsync(redis.Endpoint,
            new RedisSnapshotStoreOptions { KeyPrefix = prefix, PartSizeBytes = 1 << 20 });
        var id = NewModelId();
        var blob = Blob(5 * 1024 * 1024 + 5, 12);  // 6 parts: five of 1 MiB and one of 5 bytes
        await store.PublishAsync(id, blob, 1, 1, 1);
        Assert.Equal(1 << 20, await Db.StringLengthAsync($"{prefix}model:{id}:snapshot:1"));
        for (int i = 1; i < 5; i++) Assert.Equal(1 << 20, await Db.StringLengthAsync($"{prefix}model:{id}:snapshot:1:part:{i}"));
        Assert.Equal(5, await Db.StringLengthAsync($"{prefix}model:{id}:snapshot:1:part:5"));
        Assert.False(await Db.KeyExistsAsync($"{prefix}model:{id}:snapshot:1:part:6"));
        Assert.Equal("6", (await Db.HashGetAsync($"{prefix}model:{id}:snapshot:1:meta", "parts")).ToString());
        Assert.Equal(blob, await store.FetchAsync(id, 1));
    }

    [Fact]
    public async Task Notice_on_the_channel_is_the_contract_json_sent_after_the_pointer()
    {
        await using var store = await RedisSnapshotStore.ConnectAsync(redis.Endpoint, new RedisSnapshotStoreOptions { KeyPrefix = prefix });
        var id = NewModelId();
        var messages = Channel.CreateUnbounded<(string Json, RedisValue LatestVersion)>();
        var queue = await redis.Admin.GetSubscriber().SubscribeAsync(RedisChannel.Literal($"{prefix}snapshots"));
        queue.OnMessage(async m => messages.Writer.TryWrite((m.Message.ToString(), await Db.HashGetAsync($"{prefix}model:{id}:latest", "version"))));
        try
        {
            await store.PublishAsync(id, Blob(1000, 13), 9, 1, 1);
            var (json, latestAtNotice) = await ReadAsync(messages.Reader);
            using var doc = JsonDocument.Parse(json);
            Assert.Equal(id, doc.RootElement.GetProperty("model").GetString());
            Assert.Equal(9, doc.RootElement.GetProperty("version").GetInt64());
            Assert.Equal(2, doc.RootElement.EnumerateObject().Count());
            Assert.Equal("9", latestAtNotice.ToString());
        }
        finally { await queue.UnsubscribeAsync(); }
    }

    [Fact]
    public async Task The_key_prefix_is_configurable()
    {
        await using var other = await RedisSnapshotStore.ConnectAsync(redis.Endpoint, new RedisSnapshotStoreOptions { KeyPrefix = "elsewhere:" });
        await using var plain = await RedisSnapshotStore.ConnectAsync(redis.Endpoint);
        var id = NewModelId();
        var marker = NewModelId();
        var heardOnDefault = Channel.CreateUnbounded<SnapshotNotice>();
        var heardOnOther = Channel.CreateUnbounded<SnapshotNotice>();
        await using var s1 = plain.Subscribe(n => { if (n.ModelId == id || n.ModelId == marker) heardOnDefault.Writer.TryWrite(n); return Task.CompletedTask; });
        await using var s2 = other.Subscribe(n => { if (n.ModelId == id) heardOnOther.Writer.TryWrite(n); return Task.CompletedTask; });
        await SubscribersAsync("cad:snapshots", 1);
        await SubscribersAsync("elsewhere:snapshots", 1);

        await other.PublishAsync(id, Blob(2000, 14), 1, 1, 1);
        Assert.Equal(new SnapshotNotice(id, 1), await ReadAsync(heardOnOther.Reader));
        Assert.True(await Db.KeyExistsAsync($"elsewhere:model:{id}:latest"));
        Assert.True(await Db.KeyExistsAsync($"elsewhere:model:{id}:snapshot:1"));
        Assert.False(await Db.KeyExistsAsync($"cad:model:{id}:latest"));
        Assert.Null(await plain.GetLatestAsync(id));
        // A notice on the default prefix, published after: a subscriber hears its channel in publish order, so the
        // first thing the default side hears is this one, never the other prefix's.
        await plain.PublishAsync(marker, Blob(100, 16), 1, 1, 1);
        Assert.Equal(new SnapshotNotice(marker, 1), await ReadAsync(heardOnDefault.Reader));
        Assert.False(heardOnDefault.Reader.TryRead(out var extra), $"heard {extra}");
    }

    [Fact]
    public async Task Old_versions_leave_no_keys_behind()
    {
        await using var store = await RedisSnapshotStore.ConnectAsync(redis.Endpoint,
            new RedisSnapshotStoreOptions { KeyPrefix = prefix, KeepVersions = 1, PartSizeBytes = 4096 });
        var id = NewModelId();
        await store.PublishAsync(id, Blob(10_000, 1), 1, 1, 1);  // 3 parts
        await store.PublishAsync(id, Blob(5_000, 2), 2, 1, 1);
        var server = redis.Admin.GetServer(redis.Endpoint);
        var keys = new List<string>();
        await foreach (var k in server.KeysAsync(pattern: $"{prefix}model:{id}:*")) keys.Add(k.ToString());
        Assert.Equal(
            new[] { "latest", "snapshot:2", "snapshot:2:meta", "snapshot:2:part:1", "versions" }.Select(s => $"{prefix}model:{id}:{s}").Order(),
            keys.Order());
    }

    [Fact]
    public async Task Subscriber_rereads_the_latest_pointers_after_a_reconnect()
    {
        // The listener names its connections so the test can cut exactly them.
        var name = "listener-" + Guid.NewGuid().ToString("N")[..8];
        var config = ConfigurationOptions.Parse(redis.Endpoint);
        config.AbortOnConnectFail = false;
        config.ClientName = name;
        var mux = await ConnectionMultiplexer.ConnectAsync(config);
        await using var listener = new RedisSnapshotStore(mux, new RedisSnapshotStoreOptions { KeyPrefix = prefix }, ownsConnection: true);
        await using var publisher = await RedisSnapshotStore.ConnectAsync(redis.Endpoint, new RedisSnapshotStoreOptions { KeyPrefix = prefix });
        var id = NewModelId();
        // Published before the listener subscribed: it stands for a notice sent while the listener was cut off.
        await publisher.PublishAsync(id, Blob(3000, 15), 4, 1, 1);
        var marker = NewModelId();
        var heard = Channel.CreateUnbounded<SnapshotNotice>();
        var markers = Channel.CreateUnbounded<SnapshotNotice>();
        await using var sub = listener.Subscribe(n =>
        {
            if (n.ModelId == id) heard.Writer.TryWrite(n);
            if (n.ModelId == marker) markers.Writer.TryWrite(n);
            return Task.CompletedTask;
        });
        await ListeningAsync(1);
        // A notice published now is heard, in order: the listener is live and has not made up the one it missed.
        await publisher.PublishAsync(marker, Blob(100, 17), 1, 1, 1);
        Assert.Equal(new SnapshotNotice(marker, 1), await ReadAsync(markers.Reader, 15));
        Assert.False(heard.Reader.TryRead(out _));

        var restored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        mux.ConnectionRestored += (_, _) => restored.TrySetResult();
        var server = redis.Admin.GetServer(redis.Endpoint);
        var clients = (await server.ClientListAsync()).Where(c => c.Name == name).ToArray();
        Assert.NotEmpty(clients);
        foreach (var c in clients) await server.ClientKillAsync(c.Id, null, null, true);

        await restored.Task.WaitAsync(TimeSpan.FromSeconds(15));
        var notice = await ReadAsync(heard.Reader, 15);
        Assert.Equal(new SnapshotNotice(id, 4), notice);
    }
}
