namespace CadStream.Host.Configuration;

public sealed record RedisSettings
{
    /// <summary>HOST:PORT; empty = snapshots in a local folder.</summary>
    public string Endpoint { get; init; } = "";
    public string Password { get; init; } = "";
    public string Prefix { get; init; } = "cad:";
}
