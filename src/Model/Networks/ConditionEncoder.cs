using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CadStream.Model.Networks;

/// <summary>
/// What a denoiser is conditioned on, per sample. Class models fill Labels; text models fill Tokens
/// ([B, T, width] token states of a frozen text encoder) and TokenMask ([B, T], true at real tokens);
/// semantic-map models fill SpatialMaps (concatenated to the input, with their per-pixel coherence).
/// Coherence is the scalar trust in the condition, in [0, 1].
/// </summary>
public sealed record Conditioning(Tensor Coherence, Tensor? Labels = null, Tensor? Tokens = null, Tensor? SpatialMaps = null, Tensor? TokenMask = null);

/// <summary>
/// What a condition encoder gives the U-Net: one vector per sample that, added to the noise-level
/// embedding, modulates every residual block; for text, also a context sequence (B, L, D) with its mask
/// (B, L) that the attention resolutions cross-attend to.
/// </summary>
public sealed record ConditionOutput(Tensor Vector, Tensor? Context = null, Tensor? ContextMask = null);

/// <summary>
/// Turns a <see cref="Conditioning"/> into what the U-Net reads (<see cref="ConditionOutput"/>). New
/// condition kinds add an encoder, not a U-Net.
/// </summary>
public abstract class ConditionEncoder : nn.Module<Conditioning, ConditionOutput>
{
    protected ConditionEncoder(string name) : base(name) { }
}

/// <summary>
/// Class label and coherence, the reference code's FiLM variant: the coherence (sinusoidal
/// embedding of c * 1000, then an MLP) scales and shifts the class embedding,
/// (1 + scale(c)) * E[y] + shift(c). Scale and shift start at zero. Because c multiplies the
/// label, "ignore the label when c is low" is one linear map away, which the network learns
/// far sooner than with a plain sum. The null class serves the cfg mode.
/// </summary>
public sealed class ClassCoherenceEncoder : ConditionEncoder
{
    private readonly Embedding classEmbedding;
    private readonly Sequential coherenceMlp;
    private readonly Linear scaleShift;
    private readonly int sinusoidDim;

    public int NullClass { get; }

    public ClassCoherenceEncoder(int numClasses, int embDim, int sinusoidDim) : base(nameof(ClassCoherenceEncoder))
    {
        NullClass = numClasses;
        this.sinusoidDim = sinusoidDim;
        classEmbedding = nn.Embedding(numClasses + 1, embDim);
        coherenceMlp = nn.Sequential(nn.Linear(sinusoidDim, embDim), nn.SiLU(), nn.Linear(embDim, embDim));
        scaleShift = Layers.ZeroInit(nn.Linear(embDim, 2 * embDim));
        RegisterComponents();
    }

    public override ConditionOutput forward(Conditioning cond)
    {
        if (cond.Labels is null) throw new ArgumentException("a class model needs labels");
        using var scope = NewDisposeScope();
        var c = coherenceMlp.call(SinusoidalEmbedding.Embed(cond.Coherence.Times(SinusoidalEmbedding.InputScale), sinusoidDim));
        var parts = scaleShift.call(nn.functional.silu(c)).chunk(2, 1);
        var label = classEmbedding.call(cond.Labels);
        return new ConditionOutput((label * parts[0].Plus(1)).Plus(parts[1]).MoveToOuterDisposeScope());
    }
}
