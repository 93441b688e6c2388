using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CadStream.Model.Networks;

internal static class Layers
{
    /// <summary>
    /// GroupNorm with its affine parameters set to (1, 0). TorchSharp 0.107 allocates them with
    /// torch.empty and never initialises them, which gives random NaN losses.
    /// </summary>
    public static GroupNorm Norm(int groups, int channels)
    {
        var norm = nn.GroupNorm(groups, channels);
        using (no_grad())
        {
            norm.weight!.FillInPlace(1.0);
            norm.bias!.zero_();
        }
        return norm;
    }

    /// <summary>LayerNorm with its affine parameters set to (1, 0) explicitly, for the same reason as <see cref="Norm"/>.</summary>
    public static LayerNorm LayerNorm(int width)
    {
        var norm = nn.LayerNorm(width, eps: 1e-6);
        using (no_grad())
        {
            norm.weight!.FillInPlace(1.0);
            norm.bias!.zero_();
        }
        return norm;
    }

    /// <summary>
    /// A learned vector or matrix, drawn from N(0, 0.02^2) cut at two standard deviations (the reference code's
    /// tokens), by the inverse CDF: u uniform between Phi(-2) and Phi(2), x = 0.02 sqrt(2) erfinv(2u - 1).
    /// TorchSharp 0.107's nn.init.trunc_normal_ hands libtorch mean and std swapped: every element came out 0.02,
    /// so all registers started equal. Draws from torch's generator, which construction holds (TorchRandom).
    /// </summary>
    public static Parameter Token(params long[] shape)
    {
        const double Std = 0.02, PhiMinus2 = 0.022750131948179195, PhiPlus2 = 0.9772498680518208;
        using (no_grad())
        {
            using var u = rand(shape);
            using var centred = u.Times(2 * (PhiPlus2 - PhiMinus2)).Plus(2 * PhiMinus2 - 1);
            using var z = centred.erfinv();
            return new Parameter(z.Times(Std * Math.Sqrt(2)));
        }
    }

    public static Conv2d Conv3(long inCh, long outCh, long stride = 1) =>
        nn.Conv2d(inCh, outCh, kernel_size: 3, stride: stride, padding: 1);

    /// <summary>Zero the weights of a layer whose output is added to a residual path: each block starts as identity.</summary>
    public static T ZeroInit<T>(T module) where T : nn.Module
    {
        using (no_grad())
            foreach (var p in module.parameters()) p.zero_();
        return module;
    }
}

/// <summary>
/// Residual block: GroupNorm, SiLU, conv, then GroupNorm modulated by the conditioning vector
/// ((1 + scale) * h + shift, after normalisation), SiLU, dropout, conv.
/// </summary>
public sealed class ResidualBlock : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly GroupNorm norm1, norm2;
    private readonly Conv2d conv1, conv2;
    private readonly Linear film;
    private readonly SeededDropout dropout;
    private readonly nn.Module<Tensor, Tensor> skip;

    public ResidualBlock(int inCh, int outCh, int embDim, int groups, double dropoutRate) : base(nameof(ResidualBlock))
    {
        norm1 = Layers.Norm(groups, inCh);
        conv1 = Layers.Conv3(inCh, outCh);
        film = nn.Linear(embDim, 2 * outCh);
        norm2 = Layers.Norm(groups, outCh);
        dropout = new SeededDropout(dropoutRate);  // its noise is the network's (CadDenoiser)
        conv2 = Layers.ZeroInit(Layers.Conv3(outCh, outCh));
        skip = inCh == outCh ? nn.Identity() : nn.Conv2d(inCh, outCh, kernel_size: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor emb)
    {
        using var scope = NewDisposeScope();
        var h = conv1.call(nn.functional.silu(norm1.call(x)));
        var ss = film.call(nn.functional.silu(emb)).unsqueeze(-1).unsqueeze(-1);
        var parts = ss.chunk(2, 1);
        h = (norm2.call(h) * parts[0].Plus(1)).Plus(parts[1]);
        h = conv2.call(dropout.call(nn.functional.silu(h)));
        return h.Plus(skip.call(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>Multi-head self-attention over the pixels of a (small) feature map.</summary>
public sealed class SelfAttention : nn.Module<Tensor, Tensor>
{
    private readonly GroupNorm norm;
    private readonly Conv2d qkv, proj;
    private readonly int heads;

    public SelfAttention(int channels, int heads, int groups) : base(nameof(SelfAttention))
    {
        if (channels % heads != 0) throw new ArgumentException($"{channels} channels do not split into {heads} heads");
        this.heads = heads;
        norm = Layers.Norm(groups, channels);
        qkv = nn.Conv2d(channels, 3 * channels, kernel_size: 1);
        proj = Layers.ZeroInit(nn.Conv2d(channels, channels, kernel_size: 1));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var t = qkv.call(norm.call(x)).reshape(b, 3, heads, c / heads, h * w).permute(1, 0, 2, 4, 3); // 3,B,heads,HW,d
        var a = nn.functional.scaled_dot_product_attention(t[0], t[1], t[2]);                          // B,heads,HW,d
        var y = a.permute(0, 1, 3, 2).reshape(b, c, h, w);
        return x.Plus(proj.call(y)).MoveToOuterDisposeScope();
    }
}
