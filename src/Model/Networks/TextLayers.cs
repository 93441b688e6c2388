using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CadStream.Model.Networks;

/// <summary>Multi-head attention arithmetic shared by the text layers: (B, L, C) in, heads split and merged here.</summary>
internal static class Attention
{
    /// <param name="keyMask">(B, Lk) true at keys that take part; null: all do.</param>
    public static Tensor Heads(Tensor q, Tensor k, Tensor v, Tensor? keyMask, int heads)
    {
        long b = q.shape[0], lq = q.shape[1], c = q.shape[2], lk = k.shape[1];
        var qh = q.reshape(b, lq, heads, c / heads).transpose(1, 2);
        var kh = k.reshape(b, lk, heads, c / heads).transpose(1, 2);
        var vh = v.reshape(b, lk, heads, c / heads).transpose(1, 2);
        var mask = keyMask?.reshape(b, 1, 1, lk);
        var a = nn.functional.scaled_dot_product_attention(qh, kh, vh, mask);
        return a.transpose(1, 2).reshape(b, lq, c);
    }
}

/// <summary>
/// Pre-norm transformer block over a token sequence with padding: self-attention, then a GELU MLP (4x),
/// each added to the residual path through a learned per-channel scale that starts at 0.1 (the reference
/// code's layer scale), so the caption's tokens start close to their projections.
/// </summary>
public sealed class TransformerBlock : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly LayerNorm norm1, norm2;
    private readonly Linear qkv, proj, fc1, fc2;
    private readonly Parameter scale1, scale2;
    private readonly int heads;

    public TransformerBlock(int width, int heads) : base(nameof(TransformerBlock))
    {
        if (width % heads != 0) throw new ArgumentException($"{width} channels do not split into {heads} heads");
        this.heads = heads;
        norm1 = Layers.LayerNorm(width);
        qkv = nn.Linear(width, 3 * width);
        proj = nn.Linear(width, width);
        norm2 = Layers.LayerNorm(width);
        fc1 = nn.Linear(width, 4 * width);
        fc2 = nn.Linear(4 * width, width);
        scale1 = new Parameter(TensorMath.Full(width, 0.1f, ScalarType.Float32));
        scale2 = new Parameter(TensorMath.Full(width, 0.1f, ScalarType.Float32));
        RegisterComponents();
    }

    /// <param name="x">(B, L, C) tokens.</param>
    /// <param name="mask">(B, L) true at real tokens; padding is never attended to.</param>
    public override Tensor forward(Tensor x, Tensor mask)
    {
        using var scope = NewDisposeScope();
        var parts = qkv.call(norm1.call(x)).chunk(3, 2);
        x = x.Plus(proj.call(Attention.Heads(parts[0], parts[1], parts[2], mask, heads)) * scale1);
        x = x.Plus(fc2.call(nn.functional.gelu(fc1.call(norm2.call(x)))) * scale2);
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The U-Net's pixels attend to the text context: queries from the (normalised) feature map, keys and
/// values from the context sequence, padding masked. The output projection starts at zero, so a new
/// layer leaves the block it follows unchanged.
/// </summary>
public sealed class CrossAttention : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly GroupNorm norm;
    private readonly Linear query, key, value, proj;
    private readonly int heads;

    public CrossAttention(int channels, int contextDim, int heads, int groups) : base(nameof(CrossAttention))
    {
        if (channels % heads != 0) throw new ArgumentException($"{channels} channels do not split into {heads} heads");
        this.heads = heads;
        norm = Layers.Norm(groups, channels);
        query = nn.Linear(channels, channels);
        key = nn.Linear(contextDim, channels);
        value = nn.Linear(contextDim, channels);
        proj = Layers.ZeroInit(nn.Linear(channels, channels));
        RegisterComponents();
    }

    /// <param name="x">(B, C, H, W) features.</param>
    /// <param name="context">(B, L, D) context tokens.</param>
    /// <param name="mask">(B, L) true at tokens that take part.</param>
    public override Tensor forward(Tensor x, Tensor context, Tensor mask)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var pixels = norm.call(x).flatten(2).transpose(1, 2);                       // B, HW, C
        var a = Attention.Heads(query.call(pixels), key.call(context), value.call(context), mask, heads);
        var y = proj.call(a).transpose(1, 2).reshape(b, c, h, w);
        return x.Plus(y).MoveToOuterDisposeScope();
    }
}
