namespace CadStream.Host.Configuration;

public sealed record SnapshotSettings
{
    public string Folder { get; init; } = "data/snapshots";
    public int Keep { get; init; } = 3;
    /// <summary>
    /// HMAC-SHA256 key (at least 16 bytes) that trainers sign snapshots with and that serving nodes and resuming trainers
    /// require; unset: snapshots are neither signed nor checked. A secret: give it by the environment
    /// (CADSTREAM__Snapshots__SigningKey), never in a file (docs/security.md, "Snapshots").
    /// </summary>
    public string? SigningKey { get; init; }
    /// <summary>While rotating: the key being replaced, accepted on snapshots but never signed with (CADSTREAM__Snapshots__PreviousSigningKey).</summary>
    public string? PreviousSigningKey { get; init; }
}
