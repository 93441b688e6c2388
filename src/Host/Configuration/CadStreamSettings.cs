using CadStream.Actors;
using CadStream.Actors.Scoring;
using CadStream.Model.Catalog;
using CadStream.Serving;
using Microsoft.Extensions.Configuration;

namespace CadStream.Host.Configuration;

public sealed record KafkaSettings
{
    /// <summary>HOST:PORT of a Kafka cluster; empty = the embedded broker (demo only).</summary>
    public string Bootstrap { get; init; } = "";
    public string Topic { get; init; } = "cad.pairs";
    public string DeadLetterTopic { get; init; } = "cad.pairs.dlq";
    public int Partitions { get; init; } = 4;
}

public sealed record RedisSettings
{
    /// <summary>HOST:PORT; empty = snapshots in a local folder.</summary>
    public string Endpoint { get; init; } = "";
    public string Password { get; init; } = "";
    public string Prefix { get; init; } = "cad:";
}

public sealed record SnapshotSettings
{
    public string Folder { get; init; } = "data/snapshots";
    public int Keep { get; init; } = 3;
}

public sealed record HttpSettings
{
    public string Url { get; init; } = "http://127.0.0.1:8080";
}

public sealed record DemoSettings
{
    /// <summary>Pairs per second the demo producer streams.</summary>
    public double Rate { get; init; } = 100;
    public string Noise { get; init; } = "entropy";
    public string Format { get; init; } = "json";
    public int Seed { get; init; }

    /// <summary>
    /// Consumer lag per partition at which the demo's producer waits for the trainers: about 1 MiB of
    /// JSON pairs, well inside the ~5 MiB per partition the embedded broker keeps.
    /// </summary>
    public const long MaxLagPerPartition = 1000;
}

/// <summary>
/// The one place configuration comes from: config/cadstream.json (or --config FILE), then
/// environment variables CADSTREAM__Section__Key, then command-line options.
/// </summary>
public sealed record CadStreamSettings
{
    public NodeSettings Node { get; init; } = new();
    public KafkaSettings Kafka { get; init; } = new();
    public RedisSettings Redis { get; init; } = new();
    public SnapshotSettings Snapshots { get; init; } = new();
    public HttpSettings Http { get; init; } = new();
    public ScoringOptions Scoring { get; init; } = new();
    public ServingOptions Serving { get; init; } = new();
    public List<ModelSpec> Models { get; init; } = [];
    public DemoSettings Demo { get; init; } = new();

    public static string DefaultFile => Path.Combine(AppContext.BaseDirectory, "config", "cadstream.json");

    public static CadStreamSettings Load(string? file)
    {
        var path = file ?? DefaultFile;
        if (!File.Exists(path)) throw new FileNotFoundException($"configuration file '{path}' does not exist", path);
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.GetFullPath(path), optional: false)
            .AddEnvironmentVariables("CADSTREAM__")
            .Build();
        var settings = new CadStreamSettings();
        configuration.Bind(settings);
        // Lists bind by appending to the defaults; the file's lists replace them instead.
        var roles = configuration.GetSection("Node:Roles").Get<string[]>();
        var seeds = configuration.GetSection("Node:SeedNodes").Get<string[]>();
        return settings with
        {
            Node = settings.Node with { Roles = roles ?? settings.Node.Roles, SeedNodes = seeds ?? [] },
        };
    }

    public ModelCatalog Catalog() => new(Models);
}
