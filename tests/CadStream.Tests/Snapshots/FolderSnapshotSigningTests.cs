using CadStream.Snapshots;

namespace CadStream.Tests.Snapshots;

/// <summary>The folder store signs its records like the Redis store: a writer to the folder without the key is refused.</summary>
public sealed class FolderSnapshotSigningTests : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), "cadstream-signing-" + Guid.NewGuid().ToString("N"));
    static readonly byte[] Blob = Enumerable.Range(0, 5000).Select(i => (byte)i).ToArray();

    FolderSnapshotStore Store(string? key) => new(root, new FolderSnapshotStoreOptions { Signer = SnapshotSigner.For(key) });

    [Fact]
    public async Task Records_are_signed_and_an_unsigned_or_rewritten_one_is_refused()
    {
        const string key = "folder-signing-key-0123456789";
        await using var trainer = Store(key);
        await using var intruder = Store(null);
        var signed = await trainer.PublishAsync("m", Blob, 1, 1, 1);
        Assert.Matches("^[0-9a-f]{64}$", signed.Signature);
        Assert.Equal(Blob, await trainer.FetchAsync("m", 1));

        await intruder.PublishAsync("m", Blob.Reverse().ToArray(), 2, 2, 2);
        Assert.Equal("unsigned", (await Assert.ThrowsAsync<SnapshotRejectedException>(() => trainer.FetchAsync("m", 2))).Reason);

        // Moving a signed record to another version breaks its signature.
        File.Copy(trainer.SnapshotPath("m", 1), trainer.SnapshotPath("m", 3));
        File.WriteAllText(Path.Combine(root, "m", "3.json"), File.ReadAllText(Path.Combine(root, "m", "1.json")).Replace("\"version\":1", "\"version\":3"));
        Assert.Equal("signature", (await Assert.ThrowsAsync<SnapshotRejectedException>(() => trainer.FetchAsync("m", 3))).Reason);
    }

    public void Dispose() => Directory.Delete(root, recursive: true);
}
