using static TorchSharp.torch;

namespace CadStream.Model.Sampling;

/// <summary>
/// Guidance combinations, as pure functions. CA-CFG (docs/method.md):
/// eps_hat = eps(x, y, c=1) + w * (eps(x, y, c=1) - eps(x, y, c=0)); classic CFG uses the null
/// class instead of c = 0. Both share this arithmetic; they differ in the second branch's input.
/// </summary>
public static class Guidance
{
    public static Tensor Combine(Tensor epsConditional, Tensor epsUnconditional, double w)
    {
        if (w == 0) return epsConditional.alias();
        using var diff = epsConditional - epsUnconditional;
        using var scaled = diff.Times(w);
        return epsConditional.Plus(scaled);
    }

    /// <summary>The same with one rate per row: <paramref name="w"/> is (B) for (B, ...) predictions.</summary>
    public static Tensor Combine(Tensor epsConditional, Tensor epsUnconditional, Tensor w)
    {
        using var diff = epsConditional - epsUnconditional;
        using var rate = Scheduling.NoiseScheduler.Broadcast(w, diff);
        using var scaled = diff * rate;
        return epsConditional.Plus(scaled);
    }

    /// <summary>The same on plain numbers, for checking the tensor version against a hand computation.</summary>
    public static double Combine(double epsConditional, double epsUnconditional, double w) =>
        epsConditional + w * (epsConditional - epsUnconditional);
}
