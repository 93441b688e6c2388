using CadStream.Catalog;
using static TorchSharp.torch;

namespace CadStream.Model.Scheduling;

/// <summary>
/// A "gamma" schedule: g(t) is the signal variance at time t in [0, 1]
/// (x_t = sqrt(g) x + sqrt(1 - g) eps). g(0) = 1 (clean), g(1) ~ 0 (pure noise).
/// Pure functions, no model inside.
/// </summary>
public abstract class NoiseSchedule
{
    // Clipping keeps sqrt(g) and 1/sqrt(1-g) finite at the ends.
    public const double MinGamma = 1e-9;
    public const double MaxGamma = 1.0;

    public abstract string Name { get; }

    public double Gamma(double t) => Math.Clamp(RawGamma(t), MinGamma, MaxGamma);

    protected abstract double RawGamma(double t);

    /// <summary>Element-wise g(t) for a tensor of times (computed in the tensor's dtype).</summary>
    public abstract Tensor Gamma(Tensor t);

    public static NoiseSchedule Parse(string name) => NoiseScheduleNames.Normalize(name) switch
    {
        NoiseScheduleNames.Sigmoid => new SigmoidSchedule(),
        NoiseScheduleNames.Cosine => new CosineSchedule(),
        NoiseScheduleNames.Linear => new LinearSchedule(),
        var other => throw new NotSupportedException($"schedule '{other}' is named but not made"),
    };
}

/// <summary>Sigmoid schedule of the reference code (class-conditional training): start -3, end 3, tau 0.9.</summary>
public sealed class SigmoidSchedule(double start = -3, double end = 3, double tau = 0.9) : NoiseSchedule
{
    public double Start { get; } = start;
    public double End { get; } = end;
    public double Tau { get; } = tau;
    public override string Name => "sigmoid";

    static double S(double x) => 1.0 / (1.0 + Math.Exp(-x));

    protected override double RawGamma(double t)
    {
        double vStart = S(Start / Tau), vEnd = S(End / Tau);
        return (vEnd - S((t * (End - Start) + Start) / Tau)) / (vEnd - vStart);
    }

    public override Tensor Gamma(Tensor t)
    {
        double vStart = S(Start / Tau), vEnd = S(End / Tau);
        using var stretched = t.Times(End - Start);
        using var shifted = stretched.Plus(Start);
        using var inner = shifted.DividedBy(Tau);
        using var s = inner.sigmoid();
        using var num = s.SubtractedFrom(vEnd);
        return num.DividedBy(vEnd - vStart).ClampInPlace(MinGamma, MaxGamma);
    }
}

/// <summary>Cosine schedule: g = cos^2(((t + s)/(1 + s')) * pi/2) with the reference code's offsets.</summary>
public sealed class CosineSchedule : NoiseSchedule
{
    const double Offset = 2e-4, Scale = 1 + 2.5e-4;
    public override string Name => "cosine";

    protected override double RawGamma(double t)
    {
        var c = Math.Cos((t + Offset) / Scale * Math.PI / 2);
        return c * c;
    }

    public override Tensor Gamma(Tensor t)
    {
        using var shifted = t.Plus(Offset);
        using var scaled = shifted.DividedBy(Scale);
        using var a = scaled.Times(Math.PI / 2);
        using var c = a.cos();
        return c.Squared().ClampInPlace(MinGamma, MaxGamma);
    }
}

/// <summary>Linear schedule g = 1 - t (the reference code's larger models).</summary>
public sealed class LinearSchedule : NoiseSchedule
{
    public override string Name => "linear";
    protected override double RawGamma(double t) => 1 - t;
    public override Tensor Gamma(Tensor t) => t.SubtractedFrom(1).ClampInPlace(MinGamma, MaxGamma);
}
