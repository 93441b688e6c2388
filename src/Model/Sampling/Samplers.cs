using CadStream.Model.Training;
using static TorchSharp.torch;

namespace CadStream.Model.Sampling;

public enum SamplerKind { Ddim, Ddpm }

public static class SamplerKinds
{
    public static SamplerKind Parse(string s) => s.Trim().ToLowerInvariant() switch
    {
        "ddim" => SamplerKind.Ddim,
        "ddpm" => SamplerKind.Ddpm,
        _ => throw new ArgumentException($"unknown sampler '{s}'; expected ddim or ddpm"),
    };
}

/// <summary>
/// One reverse step from signal variance gT to gS (> gT), given the predicted noise. Pure tensor
/// maths: no model, no schedule. The predicted x0 is clamped to [-1, 1] and the noise
/// re-derived from it, so the two stay consistent.
/// </summary>
public static class ReverseStep
{
    /// <summary>DDIM (Song et al.): eta = 0 is deterministic; eta = 1 matches DDPM's variance.</summary>
    public static Tensor Ddim(Tensor xt, Tensor eps, double gT, double gS, double eta, Tensor? noise)
    {
        using var scope = NewDisposeScope();
        var gt = tensor(gT, dtype: xt.dtype, device: xt.device);
        var x0 = Diffusion.PredictX0(xt, eps, gt.expand(xt.shape[0])).clamp_(-1, 1);
        if (gS >= 1.0) return x0.MoveToOuterDisposeScope();
        var epsClamped = Diffusion.PredictEps(xt, x0, gt.expand(xt.shape[0]));
        double sigma = eta * Math.Sqrt((1 - gS) / (1 - gT)) * Math.Sqrt(Math.Max(0, 1 - gT / gS));
        double dirScale = Math.Sqrt(Math.Max(0, 1 - gS - sigma * sigma));
        var xs = x0 * Math.Sqrt(gS) + epsClamped * dirScale;
        if (sigma > 0)
        {
            if (noise is null) throw new ArgumentException("DDIM with eta > 0 needs noise");
            xs = xs + noise * sigma;
        }
        return xs.MoveToOuterDisposeScope();
    }

    /// <summary>DDPM ancestral step: a draw from q(x_s | x_t, x0_hat).</summary>
    public static Tensor Ddpm(Tensor xt, Tensor eps, double gT, double gS, Tensor? noise)
    {
        using var scope = NewDisposeScope();
        var gt = tensor(gT, dtype: xt.dtype, device: xt.device).expand(xt.shape[0]);
        var x0 = Diffusion.PredictX0(xt, eps, gt).clamp_(-1, 1);
        if (gS >= 1.0) return x0.MoveToOuterDisposeScope();
        double alpha = gT / gS;  // signal variance kept from s to t
        double c0 = Math.Sqrt(gS) * (1 - alpha) / (1 - gT);
        double ct = Math.Sqrt(alpha) * (1 - gS) / (1 - gT);
        double variance = (1 - alpha) * (1 - gS) / (1 - gT);
        var mean = x0 * c0 + xt * ct;
        if (variance > 0)
        {
            if (noise is null) throw new ArgumentException("DDPM needs noise");
            mean = mean + noise * Math.Sqrt(variance);
        }
        return mean.MoveToOuterDisposeScope();
    }

    /// <summary>Times 1 = t_0 > t_1 > ... > t_n = 0, evenly spaced.</summary>
    public static double[] TimeGrid(int steps)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), "steps must be >= 1");
        var t = new double[steps + 1];
        for (int i = 0; i <= steps; i++) t[i] = 1.0 - (double)i / steps;
        return t;
    }
}
