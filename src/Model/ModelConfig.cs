using System.Text.Json.Serialization;

namespace CadStream.Model;

/// <summary>How a model treats coherence during training (cad-method.md, "Comparison modes").</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TrainingMode>))]
public enum TrainingMode
{
    /// <summary>Condition on the coherence score (this method).</summary>
    Cad,
    /// <summary>Ignore coherence: every pair is trusted.</summary>
    Baseline,
    /// <summary>Drop pairs whose coherence is at or below a threshold.</summary>
    Filtered,
    /// <summary>Weight each pair's loss by c / mean_batch(c).</summary>
    Weighted,
    /// <summary>Classic classifier-free guidance: the condition is dropped for a share of pairs (null class).</summary>
    Cfg,
}

public static class TrainingModes
{
    public static TrainingMode Parse(string s) => s.Trim().ToLowerInvariant() switch
    {
        "cad" => TrainingMode.Cad,
        "baseline" => TrainingMode.Baseline,
        "filtered" => TrainingMode.Filtered,
        "weighted" => TrainingMode.Weighted,
        "cfg" => TrainingMode.Cfg,
        _ => throw new ArgumentException($"unknown mode '{s}'; expected cad, baseline, filtered, weighted or cfg"),
    };

    public static string Name(this TrainingMode m) => m.ToString().ToLowerInvariant();
}

/// <summary>
/// Everything needed to rebuild a CAD model for sampling; stored inside every snapshot.
/// Immutable: a change of architecture is a new config.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>Condition kind: "class" now; "text" and "segmap" plug in through the condition encoder.</summary>
    public string Kind { get; init; } = "class";
    public string[] ClassNames { get; init; } = [];
    public int NumClasses => ClassNames.Length;

    public int ImageSize { get; init; } = 28;
    public int Channels { get; init; } = 1;
    /// <summary>The U-Net works on a padded square whose side divides by 2^(levels-1).</summary>
    public int PaddedSize { get; init; } = 32;

    /// <summary>
    /// Side of the square pixel patches folded into channels before the U-Net (space-to-depth).
    /// 2 quarters the spatial work, which is what makes CPU training practical.
    /// </summary>
    public int PatchSize { get; init; } = 2;
    public int BaseChannels { get; init; } = 64;
    public int[] ChannelMultipliers { get; init; } = [1, 2, 2];
    public int ResBlocksPerLevel { get; init; } = 2;
    public bool MidAttention { get; init; } = true;
    public int AttentionHeads { get; init; } = 4;
    public int NormGroups { get; init; } = 8;
    public double Dropout { get; init; } = 0.0;
    /// <summary>Extra per-pixel input channels (e.g. a coherence map next to a semantic map); 0 for class models.</summary>
    public int ExtraInputChannels { get; init; } = 0;

    public string Schedule { get; init; } = "sigmoid";
    public TrainingMode Mode { get; init; } = TrainingMode.Cad;
    public double FilterThreshold { get; init; } = 0.5;
    public double CfgDropout { get; init; } = 0.1;
    public double DefaultGuidance { get; init; } = 1.0;

    public int EmbeddingDim => BaseChannels * 4;

    public static ModelConfig FashionMnist(IReadOnlyList<string> classNames, TrainingMode mode = TrainingMode.Cad, int baseChannels = 64) => new()
    {
        ClassNames = classNames.ToArray(),
        Mode = mode,
        BaseChannels = baseChannels,
    };

    public void Validate()
    {
        if (NumClasses < 1) throw new ArgumentException("a class model needs at least one class name");
        if (BaseChannels < 8 || BaseChannels % NormGroups != 0)
            throw new ArgumentException($"base channels must be >= 8 and a multiple of {NormGroups} (got {BaseChannels})");
        if (PatchSize < 1) throw new ArgumentException("patch size must be >= 1");
        int factor = PatchSize << (ChannelMultipliers.Length - 1);
        if (PaddedSize < ImageSize || PaddedSize % factor != 0 || (PaddedSize - ImageSize) % 2 != 0)
            throw new ArgumentException($"padded size {PaddedSize} must be >= {ImageSize}, differ from it by an even number and be divisible by {factor}");
        if (ResBlocksPerLevel < 1) throw new ArgumentException("res blocks per level must be >= 1");
        if (FilterThreshold is < 0 or > 1) throw new ArgumentException("filter threshold must be in [0, 1]");
        _ = Schedules.NoiseSchedule.Parse(Schedule);
    }
}
