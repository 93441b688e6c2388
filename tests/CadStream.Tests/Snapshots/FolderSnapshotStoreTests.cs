using System.Text.Json;
using System.Threading.Channels;
using CadStream.Model;
using CadStream.Snapshots;
using CadStream.Snapshots.Redis;

namespace CadStream.Tests.Snapshots;

/// <summary>The embedded folder store: the shared behaviour plus its file layout.</summary>
public sealed class FolderSnapshotStoreTests : SnapshotStoreContract
{
    private readonly string root = Path.Combine(Path.GetTempPath(), "cadstream-tests", "store-" + Guid.NewGuid().ToString("N"));

    protected override Task<ISnapshotStore> NewStoreAsync(int keepVersions) =>
        Task.FromResult<ISnapshotStore>(new FolderSnapshotStore(root,
            new FolderSnapshotStoreOptions { KeepVersions = keepVersions, PollInterval = TimeSpan.FromMilliseconds(200) }));

    protected override async Task CorruptAsync(string modelId, long version)
    {
        var path = Path.Combine(root, modelId, $"{version}.cadsnap");
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[bytes.Length - 100] ^= 0xFF;
        await File.WriteAllBytesAsync(path, bytes);
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        try { Directory.Delete(root, recursive: true); } catch (DirectoryNotFoundException) { }
    }

    [Fact]
    public async Task Files_are_version_cadsnap_plus_latest_json_and_no_temporaries()
    {
        var store = (FolderSnapshotStore)await StoreAsync(keepVersions: 2);
        var id = NewModelId();
        for (int v = 1; v <= 3; v++) await store.PublishAsync(id, Blob(1000 * v, v), v, v, v);
        var files = Directory.GetFiles(Path.Combine(root, id)).Select(p => Path.GetFileName(p)!).Order().ToArray();
        Assert.Equal<string>(["2.cadsnap", "2.json", "3.cadsnap", "3.json", "latest.json"], files);
        Assert.Equal(store.SnapshotPath(id, 3), Path.Combine(root, id, "3.cadsnap"));
        using var latest = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(root, id, "latest.json")));
        Assert.Equal(3, latest.RootElement.GetProperty("version").GetInt64());
        Assert.Equal(CadSnapshot.Sha256Hex(Blob(3000, 3)), latest.RootElement.GetProperty("sha256").GetString());
        Assert.Equal(3000, latest.RootElement.GetProperty("bytes").GetInt64());
    }

    [Fact]
    public async Task Another_process_sees_a_new_snapshot_by_polling()
    {
        // Two instances over one folder stand for two processes: in-process notices do not cross them.
        var trainerSide = await StoreAsync();
        var servingSide = await StoreAsync();
        var id = NewModelId();
        await trainerSide.PublishAsync(id, Blob(500, 1), 1, 1, 1);
        var marker = NewModelId();
        var heard = Channel.CreateUnbounded<SnapshotNotice>();
        var markers = Channel.CreateUnbounded<SnapshotNotice>();
        await using var sub = servingSide.Subscribe(n =>
        {
            if (n.ModelId == id) heard.Writer.TryWrite(n);
            if (n.ModelId == marker) markers.Writer.TryWrite(n);
            return Task.CompletedTask;
        });
        await trainerSide.PublishAsync(id, Blob(500, 2), 2, 2, 2);
        Assert.Equal(new SnapshotNotice(id, 2), await ReadAsync(heard.Reader, 5));
        // Two more snapshots of another model, each heard by a later poll: the second poll began after the first
        // had scanned every model, so a second announcement of version 2 would have come by now.
        for (int v = 1; v <= 2; v++)
        {
            await trainerSide.PublishAsync(marker, Blob(500, 10 + v), v, v, v);
            Assert.Equal(new SnapshotNotice(marker, v), await ReadAsync(markers.Reader, 5));
        }
        Assert.False(heard.Reader.TryRead(out var extra), $"announced twice: {extra}");
    }
}
