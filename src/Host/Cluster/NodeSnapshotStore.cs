using CadStream.Host.Configuration;
using CadStream.Snapshots;
using CadStream.Snapshots.Redis;

namespace CadStream.Host.Cluster;

/// <summary>The node's snapshot store as configured: Redis when <c>Redis:Endpoint</c> is set, else a folder.</summary>
internal static class NodeSnapshotStore
{
    public static async Task<ISnapshotStore> OpenAsync(CadStreamSettings settings) =>
        string.IsNullOrWhiteSpace(settings.Redis.Endpoint)
            ? new FolderSnapshotStore(settings.Snapshots.Folder, new FolderSnapshotStoreOptions { KeepVersions = settings.Snapshots.Keep })
            : await RedisSnapshotStore.ConnectAsync(settings.Redis.Endpoint, settings.Redis.Password,
                new RedisSnapshotStoreOptions { KeyPrefix = settings.Redis.Prefix, KeepVersions = settings.Snapshots.Keep });
}
