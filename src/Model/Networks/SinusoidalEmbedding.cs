using TorchSharp;
using static TorchSharp.torch;

namespace CadStream.Model.Networks;

/// <summary>
/// Transformer-style sinusoidal features of a scalar per sample. The reference code embeds
/// g(t) * 1000 and c * 1000, so small differences in noise level or coherence stay visible.
/// </summary>
public static class SinusoidalEmbedding
{
    public const double InputScale = 1000.0;

    /// <param name="values">(B) values, already scaled.</param>
    /// <returns>(B, dim): [sin(v * f_0..f_{h-1}), cos(v * f_0..f_{h-1})], f_i = 10000^(-i/h).</returns>
    public static Tensor Embed(Tensor values, int dim)
    {
        if (dim % 2 != 0) throw new ArgumentException("embedding dimension must be even", nameof(dim));
        int half = dim / 2;
        using var scope = NewDisposeScope();
        var freqs = exp(TensorMath.Arange(half, ScalarType.Float32, values.device).Times(-Math.Log(10000.0) / half));
        var args = values.to(ScalarType.Float32).unsqueeze(1) * freqs.unsqueeze(0);
        return cat([args.sin(), args.cos()], 1).MoveToOuterDisposeScope();
    }
}
