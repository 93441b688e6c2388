using CadStream.Catalog;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CadStream.Model.Networks.Conditions;

/// <summary>
/// Caption and coherence for a text model, as the reference code's text models do it: the coherence gets
/// its own token (sinusoidal features of c * 1000, standardised, then an MLP, plus a learned position),
/// followed by learned register tokens and the caption's token states projected to the context width;
/// self-attention blocks run over that sequence (padding masked) and give the context the U-Net
/// cross-attends to. The vector added to the noise-level embedding (which modulates every residual block)
/// has two parts: the coherence token's output, normalised and projected; and the caption's sentence
/// vector (its token states' mean over real tokens, the encoder's own pooling, at unit length) projected
/// and gated by c in FiLM form, (c + scale(c)) * P(text) + shift(c), scale and shift starting at zero: at
/// first a caption counts as far as it is trusted. The reference network reads its condition only
/// through attention; a small U-Net trained for minutes on a CPU did not learn from that alone to follow
/// the caption at c = 1 and not at c = 0 (held-out prompt agreement 0.23 at both after 300 steps in the
/// coherence-dependence test; with this vector 0.40 against 0.25, and 0.71 against 0.35 on the training
/// wordings, after 700 steps). The token states come from a frozen encoder outside this project, as tensors.
/// </summary>
public sealed class TextCoherenceEncoder : ConditionEncoder
{
    private readonly Sequential coherenceMlp;
    private readonly Parameter coherencePosition, registers;
    private readonly Linear textProjection;
    private readonly ModuleList<TransformerBlock> blocks;
    private readonly LayerNorm contextNorm;
    private readonly Linear pooled, sentence, scaleShift;
    private readonly int sinusoidDim, textWidth, maxTokens, registerCount;

    public int ContextDim { get; }

    public TextCoherenceEncoder(ModelSpec spec) : base(nameof(TextCoherenceEncoder))
    {
        int d = spec.ContextDim;
        ContextDim = d;
        textWidth = spec.TextWidth;
        maxTokens = spec.TextTokens;
        registerCount = spec.TextRegisters;
        sinusoidDim = d / 4;
        coherenceMlp = nn.Sequential(nn.Linear(sinusoidDim, d), nn.SiLU(), nn.Linear(d, d));
        coherencePosition = Layers.Token(d);
        registers = Layers.Token(registerCount, d);
        textProjection = nn.Linear(textWidth, d);
        blocks = nn.ModuleList(Enumerable.Range(0, spec.TextLayers).Select(_ => new TransformerBlock(d, spec.AttentionHeads)).ToArray());
        contextNorm = Layers.LayerNorm(d);
        pooled = nn.Linear(d, spec.EmbeddingDim);
        sentence = nn.Linear(textWidth, spec.EmbeddingDim);
        scaleShift = Layers.ZeroInit(nn.Linear(d, 2 * spec.EmbeddingDim));
        RegisterComponents();
    }

    public override ConditionOutput forward(Conditioning cond)
    {
        if (cond.Tokens is null || cond.TokenMask is null) throw new ArgumentException("a text model needs token states and their mask");
        var tokens = cond.Tokens;
        if (tokens.dim() != 3 || tokens.shape[2] != textWidth)
            throw new ArgumentException($"token states must be [batch, tokens, {textWidth}], got [{string.Join(", ", tokens.shape)}]");
        if (tokens.shape[1] > maxTokens) throw new ArgumentException($"{tokens.shape[1]} tokens per caption; this model takes at most {maxTokens}");
        if (!cond.TokenMask.shape.SequenceEqual(tokens.shape[..2]))
            throw new ArgumentException($"the token mask is [{string.Join(", ", cond.TokenMask.shape)}], the states [{string.Join(", ", tokens.shape)}]");
        using var scope = NewDisposeScope();
        long b = tokens.shape[0];
        var s = SinusoidalEmbedding.Embed(cond.Coherence.Times(SinusoidalEmbedding.InputScale), sinusoidDim);
        s = (s - s.mean([1], keepdim: true)) / s.std(1, keepdim: true);
        var c = coherenceMlp.call(s);                                                       // B, D
        var coherence = c.Plus(coherencePosition).unsqueeze(1);                                // B, 1, D
        var states = tokens.to(ScalarType.Float32);
        var text = textProjection.call(states);                                             // B, T, D
        var parts = new List<Tensor> { coherence };
        if (registerCount > 0) parts.Add(registers.unsqueeze(0).expand(b, -1, -1));
        parts.Add(text);
        var x = cat(parts, 1);
        var mask = cat([ones(b, 1 + registerCount, dtype: ScalarType.Bool, device: tokens.device), cond.TokenMask.to(ScalarType.Bool)], 1);
        foreach (var block in blocks) x = block.call(x, mask);
        x = contextNorm.call(x);
        var real = cond.TokenMask.to(ScalarType.Float32).unsqueeze(-1);
        var mean = (states * real).sum(1) / real.sum(1).ClampMin(1);
        // Unit length, then scaled so its entries are of order one, as a learned class embedding's are.
        var unit = (mean / mean.norm(1, keepdim: true).ClampMin(1e-12)).Times(Math.Sqrt(textWidth));
        var film = scaleShift.call(nn.functional.silu(c)).chunk(2, 1);
        var gate = cond.Coherence.to(ScalarType.Float32).reshape(-1, 1);
        var vector = (sentence.call(unit) * film[0].Plus(gate)).Plus(film[1]).Plus(pooled.call(x.select(1, 0)));
        return new ConditionOutput(vector.MoveToOuterDisposeScope(), x.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }
}
