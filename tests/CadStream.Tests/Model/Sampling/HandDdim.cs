using CadStream.Model.Scheduling;
using static TorchSharp.torch;

namespace CadStream.Tests.Model.Sampling;

/// <summary>The DDIM recursion worked by hand in doubles, for the sampler's tests to match.</summary>
static class HandDdim
{
    /// <summary>
    /// Samples <paramref name="count"/> 1x28x28 images from the noise the sampler draws for <paramref name="seed"/>,
    /// in <paramref name="steps"/> steps of the sigmoid schedule; <paramref name="eps"/> gives a pixel's noise estimate from its value and gamma.
    /// </summary>
    public static double[] Sample(long seed, int count, int steps, Func<double, double, double> eps)
    {
        using var gen = new Generator((ulong)seed, CPU);
        using var noise = randn([count, 1, 28, 28], generator: gen);
        var x = noise.to(ScalarType.Float64).data<double>().ToArray();
        var schedule = new SigmoidSchedule();
        for (int i = 0; i < steps; i++)
        {
            double gT = schedule.Gamma(1 - (double)i / steps), gS = schedule.Gamma(1 - (double)(i + 1) / steps);
            for (int p = 0; p < x.Length; p++)
            {
                double e = eps(x[p], gT);
                double x0 = Math.Clamp((x[p] - Math.Sqrt(1 - gT) * e) / Math.Sqrt(gT), -1, 1);
                double e2 = (x[p] - Math.Sqrt(gT) * x0) / Math.Sqrt(1 - gT);
                x[p] = gS >= 1 ? x0 : Math.Sqrt(gS) * x0 + Math.Sqrt(1 - gS) * e2;
            }
        }
        return x;
    }
}
