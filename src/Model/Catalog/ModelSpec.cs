using CadStream.Model.Data;

namespace CadStream.Model.Catalog;

/// <summary>
/// One model the cluster trains and serves, as configured in config/ (section "Models").
/// Everything a stage needs to know about a model id lives here.
/// </summary>
public sealed record ModelSpec
{
    public string Id { get; init; } = "fashion-cad";
    /// <summary>Condition kind: "class" (text and semantic maps later).</summary>
    public string Kind { get; init; } = "class";
    /// <summary>Dataset whose classes and image shape the model uses: "fashion-mnist".</summary>
    public string Dataset { get; init; } = "fashion-mnist";
    public string Mode { get; init; } = "cad";
    public int Width { get; init; } = 48;
    public double LearningRate { get; init; } = 5e-4;
    public int Batch { get; init; } = 64;
    public double EmaDecay { get; init; } = 0.999;
    public int WarmupSteps { get; init; } = 200;
    public int SnapshotEverySteps { get; init; } = 200;
    public double SnapshotEverySeconds { get; init; } = 60;
    public int ReplaySize { get; init; } = 20_000;
    /// <summary>Share of each mini-batch drawn from replayed (older) pairs once enough are buffered.</summary>
    public double ReplayFraction { get; init; } = 0.5;
    public double Guidance { get; init; } = 1.0;
    public int Seed { get; init; } = 0;

    public TrainingMode TrainingMode => TrainingModes.Parse(Mode);

    public IReadOnlyList<string> ClassNames => Dataset switch
    {
        "fashion-mnist" => FashionMnist.ClassNames,
        _ => throw new ArgumentException($"model {Id}: unknown dataset '{Dataset}'"),
    };

    /// <summary>Image shape the model learns at; incoming images are converted to it.</summary>
    public (int Channels, int Height, int Width) ImageShape => (1, 28, 28);

    public ModelConfig ToModelConfig() => ModelConfig.FashionMnist(ClassNames, TrainingMode, Width) with
    {
        DefaultGuidance = TrainingMode is TrainingMode.Cad or TrainingMode.Cfg ? Guidance : 0,
    };
}

/// <summary>The configured models by id; what ingress validates against and serving lists.</summary>
public sealed class ModelCatalog
{
    private readonly Dictionary<string, ModelSpec> byId;

    public ModelCatalog(IEnumerable<ModelSpec> models)
    {
        byId = new Dictionary<string, ModelSpec>(StringComparer.Ordinal);
        foreach (var m in models)
        {
            if (string.IsNullOrWhiteSpace(m.Id)) throw new ArgumentException("a model needs an id");
            if (!byId.TryAdd(m.Id, m)) throw new ArgumentException($"model id '{m.Id}' is configured twice");
            _ = m.TrainingMode;
            _ = m.ClassNames;
        }
    }

    public IReadOnlyCollection<ModelSpec> All => byId.Values;

    public bool TryGet(string id, out ModelSpec spec) => byId.TryGetValue(id, out spec!);

    /// <summary>The models a pair goes to: the named one, or every model of that condition kind.</summary>
    public IEnumerable<ModelSpec> For(string? modelId, string kind) =>
        modelId is null ? byId.Values.Where(m => m.Kind == kind) : byId.TryGetValue(modelId, out var m) ? [m] : [];
}
