using static TorchSharp.torch;

namespace CadStream.Model.Training;

/// <summary>The forward process and its inverse for epsilon prediction, as pure tensor maths.</summary>
public static class Diffusion
{
    /// <summary>x_t = sqrt(g) x0 + sqrt(1 - g) eps; g is (B), broadcast over the image.</summary>
    public static Tensor AddNoise(Tensor x0, Tensor eps, Tensor gamma)
    {
        using var g = Broadcast(gamma, x0);
        using var a = g.sqrt();
        using var b = (1 - g).sqrt_();
        return a * x0 + b * eps;
    }

    /// <summary>x0 = (x_t - sqrt(1 - g) eps) / sqrt(g).</summary>
    public static Tensor PredictX0(Tensor xt, Tensor eps, Tensor gamma)
    {
        using var g = Broadcast(gamma, xt);
        using var a = g.sqrt();
        using var b = (1 - g).sqrt_();
        return (xt - b * eps) / a;
    }

    /// <summary>eps = (x_t - sqrt(g) x0) / sqrt(1 - g).</summary>
    public static Tensor PredictEps(Tensor xt, Tensor x0, Tensor gamma)
    {
        using var g = Broadcast(gamma, xt);
        using var a = g.sqrt();
        using var b = (1 - g).sqrt_();
        return (xt - a * x0) / b;
    }

    /// <summary>(B) to (B, 1, 1, 1) so it multiplies an image batch.</summary>
    public static Tensor Broadcast(Tensor perSample, Tensor like)
    {
        var shape = new long[like.dim()];
        Array.Fill(shape, 1L);
        shape[0] = like.shape[0];
        return perSample.to(like.dtype).reshape(shape);
    }
}
