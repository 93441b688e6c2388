using CadStream.Actors;
using CadStream.Catalog;
using CadStream.Data;
using CadStream.Ingress;
using CadStream.Runtime;
using CadStream.Scoring;
using CadStream.Serving;

namespace CadStream.Host.Configuration;

/// <summary>
/// The one place configuration comes from: config/cadstream.json (or --config FILE), then
/// environment variables CADSTREAM__Section__Key, then command-line options. A file may go over a base file
/// and the environment over both (<see cref="SettingsOverlay"/>); one section a record each.
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
    /// <summary>Bounds on incoming records (section "Ingress"): value size, image sides and pixels, id length.</summary>
    public PairDecoderOptions Ingress { get; init; } = new();
    /// <summary>How the node's long-lived parts restart after a failure (section "Supervision").</summary>
    public RestartPolicy Supervision { get; init; } = new();
    public List<ModelSpec> Models { get; init; } = [];
    public DemoSettings Demo { get; init; } = new();

    public static string DefaultFile => Path.Combine(AppContext.BaseDirectory, "config", "cadstream.json");

    /// <summary>
    /// Reads <paramref name="file"/> (default <see cref="DefaultFile"/>) with its chain of bases, then the
    /// environment: the process's, or <paramref name="environment"/> when given (what a container would see).
    /// </summary>
    public static CadStreamSettings Load(string? file, IEnumerable<KeyValuePair<string, string?>>? environment = null) =>
        SettingsLoader.Load(file, environment);

    /// <summary>The configured models, each completed from its data set (class names when not given), validated.</summary>
    public ModelCatalog Catalog() => new(Models.Select(Complete));

    /// <summary>
    /// A model's class names, channels and image size from its <see cref="ModelSpec.Dataset"/>, where the
    /// configuration gives none (a model may, say, learn Fashion-MNIST's classes at 32x32).
    /// </summary>
    public static ModelSpec Complete(ModelSpec spec)
    {
        if (string.IsNullOrWhiteSpace(spec.Dataset)) return spec;
        var info = Datasets.Find(spec.Dataset);
        return spec with
        {
            Dataset = info.Name,
            Classes = spec.Classes.Length > 0 ? spec.Classes : info.Classes.ToArray(),
            Channels = spec.Channels > 0 ? spec.Channels : info.Channels,
            ImageSize = spec.ImageSize > 0 ? spec.ImageSize : info.ImageSize,
        };
    }
}
