using CadStream.Serving;
using CadStream.Snapshots;
using CadStream.Snapshots.Redis;
using CadStream.Tests.Model;
using CadStream.Tests.Serving;

namespace CadStream.Tests.Snapshots.Redis;

/// <summary>Snapshots signed with <c>Snapshots:SigningKey</c> in a real Redis: what a writer without the key can and cannot make a node serve.</summary>
public sealed class SignedSnapshotTests(RedisServer redis) : IClassFixture<RedisServer>
{
    const string Key = "0123456789abcdef-test-signing-key";
    private readonly string prefix = $"s{Guid.NewGuid():N}"[..12] + ":";

    Task<RedisSnapshotStore> StoreAsync(string? key) =>
        RedisSnapshotStore.ConnectAsync(redis.Endpoint, new RedisSnapshotStoreOptions { KeyPrefix = prefix, Signer = SnapshotSigner.For(key) });

    static double Rejected(string reason) => ServingMetrics.SnapshotRejected.WithLabels(TinySnapshots.ModelId, reason).Value;

    [Fact]
    public async Task Unsigned_and_wrongly_signed_snapshots_are_refused_once_while_the_signed_one_keeps_serving()
    {
        await using var trainer = await StoreAsync(Key);
        await using var intruder = await StoreAsync(null);           // can write to Redis, has no key
        await using var otherKey = await StoreAsync("another-key-of-16-bytes-or-more");
        await using var serving = await StoreAsync(Key);
        await using var host = new ModelHost(TestModels.Fashion(TinySnapshots.ModelId), new ServingOptions(), TestModels.Cpu);
        var follower = new SnapshotFollower(serving, [host], TimeSpan.FromSeconds(1));

        await trainer.PublishAsync(TinySnapshots.ModelId, TinySnapshots.V1, 1, 1, 8);
        Assert.True(await follower.CheckAsync(TinySnapshots.ModelId));
        Assert.Equal(1, host.Current?.Version);

        double unsigned = Rejected("unsigned"), forged = Rejected("signature");
        await intruder.PublishAsync(TinySnapshots.ModelId, TinySnapshots.V2, 2, 2, 16);
        Assert.False(await follower.CheckAsync(TinySnapshots.ModelId));
        Assert.False(await follower.CheckAsync(TinySnapshots.ModelId));  // remembered: not fetched nor counted again
        Assert.Equal(1, host.Current?.Version);
        Assert.Equal(unsigned + 1, Rejected("unsigned"));
        Assert.Contains("not signed", follower.LastErrors[TinySnapshots.ModelId]);

        await otherKey.PublishAsync(TinySnapshots.ModelId, TinySnapshots.V2, 3, 3, 24);
        Assert.False(await follower.CheckAsync(TinySnapshots.ModelId));
        Assert.Equal(1, host.Current?.Version);
        Assert.Equal(forged + 1, Rejected("signature"));

        // Rewriting a signed record (its sha256 to the intruder's bytes) breaks its signature too.
        await trainer.PublishAsync(TinySnapshots.ModelId, TinySnapshots.V3, 4, 4, 32);
        var db = redis.Admin.GetDatabase();
        var intruderSha = CadStream.Model.CadSnapshot.Sha256Hex(TinySnapshots.V2);
        foreach (var k in new[] { serving.LatestKey(TinySnapshots.ModelId), serving.MetaKey(TinySnapshots.ModelId, 4) })
            await db.HashSetAsync(k, [new("sha256", intruderSha), new("bytes", TinySnapshots.V2.Length)]);
        await db.StringSetAsync(serving.SnapshotKey(TinySnapshots.ModelId, 4), TinySnapshots.V2);
        Assert.False(await follower.CheckAsync(TinySnapshots.ModelId));
        Assert.Equal(1, host.Current?.Version);
        Assert.Equal(forged + 2, Rejected("signature"));

        // The next version the trainer signs is served.
        await trainer.PublishAsync(TinySnapshots.ModelId, TinySnapshots.V3, 5, 5, 40);
        Assert.True(await follower.CheckAsync(TinySnapshots.ModelId));
        Assert.Equal(5, host.Current?.Version);

        // Rotating: a node with a new key and the old one as previous still reads what the old key signed.
        await using var rotated = await RedisSnapshotStore.ConnectAsync(redis.Endpoint,
            new RedisSnapshotStoreOptions { KeyPrefix = prefix, Signer = new SnapshotSigner("a-new-key-of-16-bytes-or-more", previousKey: Key) });
        Assert.Equal(TinySnapshots.V3, await rotated.FetchAsync(TinySnapshots.ModelId, 5));
    }

    [Fact]
    public async Task A_declared_size_of_two_gigabytes_is_refused_before_anything_is_allocated()
    {
        await using var store = await StoreAsync(null);
        await store.PublishAsync("sized", Blob(4096), 1, 1, 1);
        await redis.Admin.GetDatabase().HashSetAsync(store.MetaKey("sized", 1), "bytes", 2_000_000_000);
        await redis.Admin.GetDatabase().HashSetAsync(store.LatestKey("sized"), "bytes", 2_000_000_000);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var e = await Assert.ThrowsAsync<SnapshotRejectedException>(() => store.FetchAsync("sized", 1));
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.Equal("bounds", e.Reason);
        Assert.True(allocated < 256 << 20, $"{allocated:N0} bytes allocated to refuse it");
    }

    static byte[] Blob(int n) => Enumerable.Range(0, n).Select(i => (byte)(i * 7)).ToArray();
}
