using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CadStream.Model.Networks.Conditions;

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
