using System.Threading.Channels;
using CadStream.Model;
using CadStream.Snapshots;
using CadStream.Snapshots.Redis;

namespace CadStream.Tests.Snapshots;

/// <summary>
/// Behaviour every <see cref="ISnapshotStore"/> shares; each store's test class derives from this
/// and says how to make a store over one backing (one Redis prefix, one folder) and how to damage bytes.
/// </summary>
public abstract class SnapshotStoreContract : IAsyncLifetime
{
    private readonly List<ISnapshotStore> stores = [];

    /// <summary>A new store instance over this test's backing; two instances see the same snapshots.</summary>
    protected abstract Task<ISnapshotStore> NewStoreAsync(int keepVersions);

    /// <summary>Flips a byte of a stored version's data (for a multi-part blob, in a later part).</summary>
    protected abstract Task CorruptAsync(string modelId, long version);

    /// <summary>Waits until the backing has <paramref name="subscribers"/> store instances listening (Redis subscribes asynchronously).</summary>
    protected virtual Task ListeningAsync(int subscribers) => Task.CompletedTask;

    protected async Task<ISnapshotStore> StoreAsync(int keepVersions = 3)
    {
        var s = await NewStoreAsync(keepVersions);
        stores.Add(s);
        return s;
    }

    protected static string NewModelId() => "m-" + Guid.NewGuid().ToString("N")[..10];

    protected static byte[] Blob(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (var s in stores) await s.DisposeAsync();
    }

    [Fact]
    public async Task Publish_moves_latest_and_fetch_returns_the_bytes()
    {
        var store = await StoreAsync();
        var id = NewModelId();
        Assert.Null(await store.GetLatestAsync(id));
        var blob = Blob(10_000, 1);
        long before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var info = await store.PublishAsync(id, blob, version: 1, steps: 200, samples: 12_800);
        Assert.Equal(new SnapshotInfo(1, CadSnapshot.Sha256Hex(blob), 10_000, 200, 12_800, info.Created), info);
        Assert.InRange(info.Created, before, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Assert.Equal(info, await store.GetLatestAsync(id));
        Assert.Equal(blob, await store.FetchAsync(id, 1));

        var blob2 = Blob(9_000, 2);
        var info2 = await store.PublishAsync(id, blob2, 2, 400, 25_600);
        Assert.Equal(info2, await store.GetLatestAsync(id));
        Assert.Equal(blob2, await store.FetchAsync(id, 2));
        Assert.Equal(blob, await store.FetchAsync(id, 1));  // still kept
    }

    [Fact]
    public async Task A_blob_over_4_MB_round_trips()
    {
        var store = await StoreAsync();
        var id = NewModelId();
        var blob = Blob(4 * 1024 * 1024 + 123_457, 3);
        await store.PublishAsync(id, blob, 1, 1, 1);
        Assert.Equal(blob, await store.FetchAsync(id, 1));
        // A second instance (another process, in effect) reads the same bytes.
        var other = await StoreAsync();
        Assert.Equal(blob, await other.FetchAsync(id, 1));
        Assert.Equal(blob.Length, (await other.GetLatestAsync(id))!.Bytes);
    }

    [Fact]
    public async Task Subscriber_is_told_after_the_latest_pointer_moved()
    {
        var publisher = await StoreAsync();
        var listener = await StoreAsync();  // a different instance: sees it through the backing, not in-process
        var id = NewModelId();
        var seen = Channel.CreateUnbounded<(SnapshotNotice Notice, SnapshotInfo? Latest)>();
        await using var sub = listener.Subscribe(async n =>
        {
            if (n.ModelId == id) seen.Writer.TryWrite((n, await listener.GetLatestAsync(id)));
        });
        await ListeningAsync(1);
        await publisher.PublishAsync(id, Blob(5000, 4), 7, 70, 700);
        var (notice, latest) = await ReadAsync(seen.Reader);
        Assert.Equal(new SnapshotNotice(id, 7), notice);
        Assert.Equal(7, latest?.Version);

        // The publishing instance's own subscribers hear it too.
        var local = Channel.CreateUnbounded<SnapshotNotice>();
        await using var sub2 = publisher.Subscribe(n => { if (n.ModelId == id) local.Writer.TryWrite(n); return Task.CompletedTask; });
        await ListeningAsync(2);
        await publisher.PublishAsync(id, Blob(5000, 5), 8, 80, 800);
        Assert.Equal(new SnapshotNotice(id, 8), await ReadAsync(local.Reader));
    }

    protected static async Task<T> ReadAsync<T>(ChannelReader<T> reader, double seconds = 10)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        try { return await reader.ReadAsync(timeout.Token); }
        catch (OperationCanceledException) { throw new TimeoutException($"no notice within {seconds} s"); }
    }

    [Fact]
    public async Task Corrupt_bytes_are_caught_by_the_sha256_check()
    {
        var store = await StoreAsync();
        var id = NewModelId();
        await store.PublishAsync(id, Blob(4 * 1024 * 1024 + 1000, 6), 3, 1, 1);
        await CorruptAsync(id, 3);
        var e = await Assert.ThrowsAsync<SnapshotIntegrityException>(() => store.FetchAsync(id, 3));
        Assert.Contains("sha256", e.Message);
        Assert.Contains($"{id} v3", e.Message);
    }

    [Fact]
    public async Task Only_the_newest_versions_are_kept()
    {
        var store = await StoreAsync(keepVersions: 2);
        var id = NewModelId();
        for (int v = 1; v <= 4; v++) await store.PublishAsync(id, Blob(2000 + v, v), v, v * 10, v * 100);
        await Assert.ThrowsAsync<SnapshotNotFoundException>(() => store.FetchAsync(id, 1));
        await Assert.ThrowsAsync<SnapshotNotFoundException>(() => store.FetchAsync(id, 2));
        Assert.Equal(Blob(2003, 3), await store.FetchAsync(id, 3));
        Assert.Equal(Blob(2004, 4), await store.FetchAsync(id, 4));
        Assert.Equal(4, (await store.GetLatestAsync(id))!.Version);
    }

    [Fact]
    public async Task The_kept_versions_are_listed_oldest_first_with_their_records()
    {
        var store = await StoreAsync(keepVersions: 3);
        var id = NewModelId();
        Assert.Empty(await store.ListVersionsAsync(id));
        for (int v = 1; v <= 5; v++) await store.PublishAsync(id, Blob(1000 + v, v), v, v * 10, v * 100);
        var kept = await store.ListVersionsAsync(id);
        Assert.Equal([3L, 4L, 5L], kept.Select(k => k.Version));
        Assert.Equal([30L, 40L, 50L], kept.Select(k => k.Steps));
        Assert.Equal(SnapshotStores.Sha256Hex(Blob(1004, 4)), kept[1].Sha256);
        // What is listed can be fetched.
        foreach (var k in kept) Assert.Equal(k.Bytes, (await store.FetchAsync(id, k.Version)).LongLength);
    }

    [Fact]
    public async Task An_older_version_is_refused_and_the_latest_stays()
    {
        var store = await StoreAsync();
        var id = NewModelId();
        await store.PublishAsync(id, Blob(3000, 3), 3, 1, 1);
        await store.PublishAsync(id, Blob(3000, 1), 5, 1, 1);
        var e = await Assert.ThrowsAsync<SnapshotVersionConflictException>(() => store.PublishAsync(id, Blob(3000, 2), 4, 1, 1));
        Assert.Contains("v5", e.Message);
        Assert.Equal(5, (await store.GetLatestAsync(id))!.Version);
        Assert.Equal(Blob(3000, 1), await store.FetchAsync(id, 5));
        await Assert.ThrowsAsync<SnapshotNotFoundException>(() => store.FetchAsync(id, 4));
        // A refused publish of a kept older version leaves that version as it was.
        await Assert.ThrowsAsync<SnapshotVersionConflictException>(() => store.PublishAsync(id, Blob(3000, 4), 3, 1, 1));
        Assert.Equal(Blob(3000, 3), await store.FetchAsync(id, 3));
    }

    [Fact]
    public async Task A_version_is_never_written_twice_and_the_conflict_names_the_latest()
    {
        var store = await StoreAsync();
        var id = NewModelId();
        await store.PublishAsync(id, Blob(2000, 1), 1, 1, 1);
        await store.PublishAsync(id, Blob(2000, 2), 2, 2, 2);
        // Publishing the live latest again (a retry after a failure late in a publish) is refused, not an overwrite.
        var again = await Assert.ThrowsAsync<SnapshotVersionConflictException>(() => store.PublishAsync(id, Blob(2000, 9), 2, 3, 3));
        Assert.Equal(2, again.StoreLatest);
        Assert.Equal(Blob(2000, 2), await store.FetchAsync(id, 2));
        var older = await Assert.ThrowsAsync<SnapshotVersionConflictException>(() => store.PublishAsync(id, Blob(2000, 8), 1, 3, 3));
        Assert.Equal(2, older.StoreLatest);
        Assert.Equal(Blob(2000, 1), await store.FetchAsync(id, 1));
        // The next version above the latest goes through.
        await store.PublishAsync(id, Blob(2000, 3), again.StoreLatest + 1, 3, 3);
        Assert.Equal(3, (await store.GetLatestAsync(id))!.Version);
    }

    [Fact]
    public async Task Bad_model_ids_and_missing_versions_get_clear_errors()
    {
        var store = await StoreAsync();
        await Assert.ThrowsAsync<ArgumentException>(() => store.PublishAsync("../etc", Blob(10, 1), 1, 0, 0));
        await Assert.ThrowsAsync<ArgumentException>(() => store.GetLatestAsync("a b"));
        var e = await Assert.ThrowsAsync<SnapshotNotFoundException>(() => store.FetchAsync("nobody", 1));
        Assert.Contains("nobody v1", e.Message);
    }
}
