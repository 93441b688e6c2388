namespace CadStream.Host.Configuration;

public sealed record DemoSettings
{
    /// <summary>Pairs per second the demo producer streams.</summary>
    public double Rate { get; init; } = 100;
    public string Noise { get; init; } = "entropy";
    public string Format { get; init; } = "json";
    public int Seed { get; init; }
}
