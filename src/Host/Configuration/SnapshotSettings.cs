namespace CadStream.Host.Configuration;

public sealed record SnapshotSettings
{
    public string Folder { get; init; } = "data/snapshots";
    public int Keep { get; init; } = 3;
}
