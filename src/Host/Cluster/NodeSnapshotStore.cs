using CadStream.Host.Configuration;
using CadStream.Snapshots;
using CadStream.Snapshots.Redis;

namespace CadStream.Host.Cluster;

/// <summary>The node's snapshot store as configured: Redis when <c>Redis:Endpoint</c> is set, else a folder.</summary>
internal static class NodeSnapshotStore
{
    public static async Task<ISnapshotStore> OpenAsync(CadStreamSettings settings)
    {
        // The store signs what this node publishes and checks what it fetches: trainers, resuming trainers and serving alike.
        var signer = SnapshotSigner.For(settings.Snapshots.SigningKey, settings.Snapshots.PreviousSigningKey);
        return string.IsNullOrWhiteSpace(settings.Redis.Endpoint)
            ? new FolderSnapshotStore(settings.Snapshots.Folder, new FolderSnapshotStoreOptions { KeepVersions = settings.Snapshots.Keep, Signer = signer })
            : await RedisSnapshotStore.ConnectAsync(settings.Redis.Endpoint, settings.Redis.Password,
                new RedisSnapshotStoreOptions { KeyPrefix = settings.Redis.Prefix, KeepVersions = settings.Snapshots.Keep, Signer = signer });
    }
}
