using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CadStream.Model.Networks;

/// <summary>
/// What a denoiser is conditioned on, per sample. Class models fill Labels; text models will
/// fill Tokens; semantic-map models fill SpatialMaps (concatenated to the input, with their
/// per-pixel coherence). Coherence is the scalar trust in the condition, in [0, 1].
/// </summary>
public sealed record Conditioning(Tensor Coherence, Tensor? Labels = null, Tensor? Tokens = null, Tensor? SpatialMaps = null);

/// <summary>
/// Turns a <see cref="Conditioning"/> into one vector per sample that, added to the noise-level
/// embedding, modulates every residual block. New condition kinds add an encoder, not a U-Net.
/// </summary>
public abstract class ConditionEncoder : nn.Module<Conditioning, Tensor>
{
    protected ConditionEncoder(string name) : base(name) { }
}

/// <summary>
/// Class label and coherence: a learned embedding per class (plus a null class, used by the
/// cfg mode) and an MLP over the sinusoidal embedding of c * 1000, summed.
/// </summary>
public sealed class ClassCoherenceEncoder : ConditionEncoder
{
    private readonly Embedding classEmbedding;
    private readonly Sequential coherenceMlp;
    private readonly int sinusoidDim;

    public int NullClass { get; }

    public ClassCoherenceEncoder(int numClasses, int embDim, int sinusoidDim) : base(nameof(ClassCoherenceEncoder))
    {
        NullClass = numClasses;
        this.sinusoidDim = sinusoidDim;
        classEmbedding = nn.Embedding(numClasses + 1, embDim);
        coherenceMlp = nn.Sequential(nn.Linear(sinusoidDim, embDim), nn.SiLU(), nn.Linear(embDim, embDim));
        RegisterComponents();
    }

    public override Tensor forward(Conditioning cond)
    {
        if (cond.Labels is null) throw new ArgumentException("a class model needs labels");
        using var scope = NewDisposeScope();
        var c = SinusoidalEmbedding.Embed(cond.Coherence * SinusoidalEmbedding.InputScale, sinusoidDim);
        return (classEmbedding.call(cond.Labels) + coherenceMlp.call(c)).MoveToOuterDisposeScope();
    }
}
