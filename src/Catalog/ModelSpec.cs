using System.Text.Json.Serialization;
using CadStream.Catalog.Conditions;

namespace CadStream.Catalog;

/// <summary>How a model treats coherence during training (docs/method.md, "Comparison modes").</summary>
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

    /// <summary>
    /// Whether the mode trains and samples with classic classifier-free guidance (the null label for
    /// <see cref="ModelSpec.CfgDropout"/> of pairs; guidance against the null label): every mode but CAD,
    /// whose unconditional branch is the same label at c = 0.
    /// </summary>
    public static bool UsesClassicGuidance(this TrainingMode m) => m != TrainingMode.Cad;
}

/// <summary>
/// The one description of a model, from configuration (section "Models") to the trainer, into every
/// snapshot (so a snapshot alone rebuilds the network) and to serving. Immutable: a change is a new
/// spec. Groups: what it learns (kind, classes, image shape), how (mode, schedule), the network,
/// the optimiser, and how it streams (replay, snapshot intervals).
/// </summary>
public sealed record ModelSpec
{
    // What the model learns.
    public string Id { get; init; } = "model";
    /// <summary>What it is conditioned on: a class label, or a caption's token states from a frozen text encoder (<see cref="ConditionKind"/>).</summary>
    public ConditionKind Kind { get; init; } = ConditionKind.Class;
    /// <summary>Where the classes and image shape came from ("fashion-mnist"), for people; empty when given by hand.</summary>
    public string Dataset { get; init; } = "";
    /// <summary>Class names of a class model; a label is an index into them. A text model may name its data set's
    /// classes too (evaluation asks for them); it does not learn them.</summary>
    public string[] Classes { get; init; } = [];
    /// <summary>Image channels: 1 (grey) or 3 (RGB); 0 = the data set's. Incoming images are converted to them.</summary>
    public int Channels { get; init; }
    /// <summary>Side of the square images the model learns and samples, 16..128 px; 0 = the data set's.</summary>
    public int ImageSize { get; init; }
    /// <summary>
    /// How an incoming image of another aspect ratio becomes the model's square (<see cref="ResizePolicyNames"/>):
    /// <c>center-crop</c> (default), <c>pad</c> (letterbox on black) or <c>stretch</c>. Shrinking is antialiased.
    /// </summary>
    public string Resize { get; init; } = ResizePolicyNames.CenterCrop;

    // How it learns.
    public TrainingMode Mode { get; init; } = TrainingMode.Cad;
    public double FilterThreshold { get; init; } = 0.5;
    public double CfgDropout { get; init; } = 0.1;
    /// <summary>Guidance rate w of requests that name none (modes cad and cfg; the others sample unguided).</summary>
    public double Guidance { get; init; } = 1.0;
    public string Schedule { get; init; } = "sigmoid";

    // The network.
    /// <summary>Base channels of the U-Net (48 gives ~3.8M parameters).</summary>
    public int Width { get; init; } = 48;
    public int[] ChannelMultipliers { get; init; } = [1, 2, 2];
    public int ResBlocksPerLevel { get; init; } = 2;
    public bool MidAttention { get; init; } = true;
    public int AttentionHeads { get; init; } = 4;
    public int NormGroups { get; init; } = 8;
    public double Dropout { get; init; } = 0.0;
    /// <summary>
    /// Side of the square pixel patches folded into channels before the U-Net (space-to-depth).
    /// 2 quarters the spatial work, which is what makes CPU training practical.
    /// </summary>
    public int PatchSize { get; init; } = 2;
    /// <summary>The U-Net works on a padded square; 0 = the smallest that fits (see <see cref="UNetSize"/>).</summary>
    public int PaddedSize { get; init; }
    /// <summary>Extra per-pixel input channels (e.g. a coherence map next to a semantic map); 0 for class models.</summary>
    public int ExtraInputChannels { get; init; }

    // Text models only (Kind text); other kinds ignore them.
    /// <summary>Width of the frozen text encoder's token states (384 for all-MiniLM-L6-v2).</summary>
    public int TextWidth { get; init; } = 384;
    /// <summary>Most tokens per caption the model takes, [CLS] and [SEP] included; the encoder cuts longer captions to it.</summary>
    public int TextTokens { get; init; } = 64;
    /// <summary>Learned register tokens between the coherence token and the caption's tokens.</summary>
    public int TextRegisters { get; init; } = 4;
    /// <summary>Self-attention blocks over [coherence, registers, caption tokens] before the U-Net reads them.</summary>
    public int TextLayers { get; init; } = 2;
    /// <summary>Width of that context sequence; 0 = <see cref="EmbeddingDim"/>.</summary>
    public int TextContextWidth { get; init; }
    /// <summary>
    /// Feature-map sides (after patching) at which the U-Net's residual blocks cross-attend to the context; the
    /// middle always does. With the default 28 px model (padded 32, patch 2) the levels are 16, 8 and 4.
    /// </summary>
    public int[] CrossAttentionResolutions { get; init; } = [8, 4];

    // The optimiser (not needed to sample).
    public double LearningRate { get; init; } = 5e-4;
    public double WeightDecay { get; init; }
    public int WarmupSteps { get; init; } = 200;
    public double GradClip { get; init; } = 1.0;
    public double EmaDecay { get; init; } = 0.999;
    public int Batch { get; init; } = 64;
    public int Seed { get; init; }

    // Streaming training.
    public int SnapshotEverySteps { get; init; } = 200;
    public double SnapshotEverySeconds { get; init; } = 60;
    public int ReplaySize { get; init; } = 20_000;
    /// <summary>Share of each mini-batch drawn from replayed (older) pairs once enough are buffered.</summary>
    public double ReplayFraction { get; init; } = 0.5;

    /// <summary>The largest <see cref="ImageSize"/>.</summary>
    public const int MaxImageSize = 128;

    [JsonIgnore] public int NumClasses => Classes.Length;
    [JsonIgnore] public int EmbeddingDim => Width * 4;
    /// <summary>Width of the text context sequence the U-Net cross-attends to.</summary>
    [JsonIgnore] public int ContextDim => TextContextWidth > 0 ? TextContextWidth : EmbeddingDim;
    /// <summary>Side of the feature map at each U-Net level (level 0 first).</summary>
    [JsonIgnore] public int[] LevelSides => Enumerable.Range(0, ChannelMultipliers.Length).Select(l => UNetSize / PatchSize >> l).ToArray();
    /// <summary>The guidance a request gets when it names none.</summary>
    [JsonIgnore] public double DefaultGuidance => Guidance;
    /// <summary>Bytes of one image at the model's shape (channel-first, 8-bit).</summary>
    [JsonIgnore] public int ImageBytes => Channels * ImageSize * ImageSize;

    /// <summary>
    /// The padded side the U-Net sees: <see cref="PaddedSize"/>, or the smallest side >= the image that
    /// differs from it by an even number and divides by PatchSize * 2^(levels-1).
    /// </summary>
    [JsonIgnore]
    public int UNetSize
    {
        get
        {
            if (PaddedSize > 0) return PaddedSize;
            int factor = PatchSize << Math.Max(0, ChannelMultipliers.Length - 1);
            int s = ImageSize;
            while (s % factor != 0 || (s - ImageSize) % 2 != 0) s++;
            return s;
        }
    }

    /// <summary>Value equality, lists included (a record alone compares arrays by reference).</summary>
    public bool Equals(ModelSpec? other) =>
        other is not null && (ReferenceEquals(this, other) || System.Text.Json.JsonSerializer.Serialize(this) == System.Text.Json.JsonSerializer.Serialize(other));

    public override int GetHashCode() => System.Text.Json.JsonSerializer.Serialize(this).GetHashCode(StringComparison.Ordinal);

    /// <summary>The optimiser and streaming settings of <paramref name="from"/> on this spec's network (resuming with new settings).</summary>
    public ModelSpec WithTrainingOf(ModelSpec from) => this with
    {
        Id = from.Id,
        Resize = from.Resize,
        LearningRate = from.LearningRate, WeightDecay = from.WeightDecay, WarmupSteps = from.WarmupSteps, GradClip = from.GradClip,
        EmaDecay = from.EmaDecay, Batch = from.Batch, Seed = from.Seed,
        SnapshotEverySteps = from.SnapshotEverySteps, SnapshotEverySeconds = from.SnapshotEverySeconds,
        ReplaySize = from.ReplaySize, ReplayFraction = from.ReplayFraction,
    };

    /// <summary>Largest <see cref="Width"/> a model may have: the network's size grows with its square.</summary>
    public const int MaxWidth = 1024;
    /// <summary>Most resolution levels (<see cref="ChannelMultipliers"/>) and largest multiplier.</summary>
    public const int MaxLevels = 6, MaxMultiplier = 16;

    /// <summary>
    /// Upper bounds on everything that sizes the network or its inputs. A snapshot's spec comes from a store and is checked
    /// with these before its network is built (<c>CadSnapshot.FromBytes</c>), so a declared width of a million allocates nothing.
    /// Throws <see cref="ArgumentException"/>.
    /// </summary>
    public void CheckBounds()
    {
        string Where() => $"model {Id}";
        void Range(string name, long value, long min, long max)
        {
            if (value < min || value > max) throw new ArgumentException($"{Where()}: {name} must be in {min}..{max} (got {value})");
        }
        Range(nameof(Width), Width, 1, MaxWidth);
        Range(nameof(ImageSize), ImageSize, 1, MaxImageSize);
        Range(nameof(Channels), Channels, 1, 3);
        Range(nameof(PatchSize), PatchSize, 1, 16);
        Range("levels (ChannelMultipliers)", ChannelMultipliers?.Length ?? 0, 1, MaxLevels);
        foreach (var m in ChannelMultipliers ?? []) Range(nameof(ChannelMultipliers), m, 1, MaxMultiplier);
        Range(nameof(ResBlocksPerLevel), ResBlocksPerLevel, 1, 8);
        Range(nameof(AttentionHeads), AttentionHeads, 1, 64);
        Range(nameof(NormGroups), NormGroups, 1, MaxWidth);
        Range(nameof(ExtraInputChannels), ExtraInputChannels, 0, 16);
        Range(nameof(TextWidth), TextWidth, 0, 4096);
        Range(nameof(TextTokens), TextTokens, 0, 512);
        Range(nameof(TextContextWidth), TextContextWidth, 0, 4096);
        Range("class count", Classes?.Length ?? 0, 0, 100_000);
    }

    /// <summary>Throws <see cref="ArgumentException"/> saying what is wrong, naming the model.</summary>
    public void Validate()
    {
        string Where() => $"model {Id}";
        if (!Kind.IsAvailable()) throw new ArgumentException($"{Where()}: {ConditionKinds.NotAvailable(Kind)}");
        if (Channels is not (1 or 3)) throw new ArgumentException($"{Where()}: Channels must be 1 or 3 (got {Channels}; give it, or a Dataset that has it)");
        if (ImageSize is < 16 or > MaxImageSize) throw new ArgumentException($"{Where()}: ImageSize must be in 16..{MaxImageSize} (got {ImageSize}; give it, or a Dataset that has it)");
        try { _ = ResizePolicyNames.Normalize(Resize); }
        catch (ArgumentException e) { throw new ArgumentException($"{Where()}: {e.Message}"); }
        if (Width < 8 || Width % NormGroups != 0)
            throw new ArgumentException($"{Where()}: Width must be >= 8 and a multiple of {NormGroups} (got {Width})");
        if (PatchSize < 1) throw new ArgumentException($"{Where()}: PatchSize must be >= 1");
        if (ChannelMultipliers.Length < 1) throw new ArgumentException($"{Where()}: ChannelMultipliers needs at least one level");
        int factor = PatchSize << (ChannelMultipliers.Length - 1);
        int padded = UNetSize;
        if (padded < ImageSize || padded % factor != 0 || (padded - ImageSize) % 2 != 0)
            throw new ArgumentException($"{Where()}: padded size {padded} must be >= {ImageSize}, differ from it by an even number and be divisible by {factor}");
        if (ResBlocksPerLevel < 1) throw new ArgumentException($"{Where()}: ResBlocksPerLevel must be >= 1");
        this.Rules().Validate(this, Where());
        if (FilterThreshold is < 0 or > 1) throw new ArgumentException($"{Where()}: FilterThreshold must be in [0, 1]");
        if (CfgDropout is < 0 or > 1) throw new ArgumentException($"{Where()}: CfgDropout must be in [0, 1]");
        if (!(Guidance >= 0 && Guidance <= 100)) throw new ArgumentException($"{Where()}: Guidance must be in [0, 100]");
        if (Batch < 1) throw new ArgumentException($"{Where()}: Batch must be >= 1");
        if (ReplaySize < 1) throw new ArgumentException($"{Where()}: ReplaySize must be >= 1");
        if (ReplayFraction is < 0 or > 1) throw new ArgumentException($"{Where()}: ReplayFraction must be in [0, 1]");
        _ = NoiseScheduleNames.Normalize(Schedule);
        CheckBounds();
    }
}
