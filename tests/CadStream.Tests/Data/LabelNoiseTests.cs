using CadStream.Data;
using CadStream.Evaluation;

namespace CadStream.Tests.Data;

public sealed class LabelNoiseTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(10)]
    [InlineData(1000)]
    public void FlipProbability_InvertsEntropy_AndIsMonotone(int n)
    {
        double previous = -1;
        for (int i = 0; i <= 1000; i++)
        {
            double e = i / 1000.0;
            double x = LabelNoise.FlipProbabilityForEntropy(e, n);
            Assert.InRange(x, 0, (n - 1.0) / n);
            Assert.Equal(e, LabelNoise.NormalizedEntropyOfFlip(x, n), 1e-9);
            Assert.True(x > previous, $"x({e}) = {x} is not above x at the previous e ({previous})");
            previous = x;
        }
        Assert.Equal(0, LabelNoise.FlipProbabilityForEntropy(0, n));
        Assert.Equal((n - 1.0) / n, LabelNoise.FlipProbabilityForEntropy(1, n), 1e-12);
        Assert.Equal(1, LabelNoise.NormalizedEntropyOfFlip((n - 1.0) / n, n), 1e-12);
        // And the other way round, away from the flat top where x is ill-conditioned.
        foreach (var x in new[] { 1e-6, 0.01, 0.2, 0.45 })
            Assert.Equal(x, LabelNoise.FlipProbabilityForEntropy(LabelNoise.NormalizedEntropyOfFlip(x, n), n), 1e-9);
    }

    [Fact]
    public void FlipProbability_RejectsOutOfRange()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LabelNoise.FlipProbabilityForEntropy(1.5, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => LabelNoise.FlipProbabilityForEntropy(double.NaN, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => LabelNoise.FlipProbabilityForEntropy(0.5, 1));
    }

    static byte[] SyntheticLabels(int count, int seed)
    {
        var rng = new Random(seed);
        var labels = new byte[count];
        for (int i = 0; i < count; i++) labels[i] = (byte)rng.Next(10);
        return labels;
    }

    [Fact]
    public void EntropyProtocol_MatchesItsExpectations()
    {
        var truth = SyntheticLabels(200_000, 123);
        var noisy = LabelNoise.Entropy(truth, 10, seed: 7);

        Assert.Equal(0.5, noisy.Coherence.Average(), 0.005);
        Assert.All(noisy.Coherence, c => Assert.InRange(c, 0f, 1f));

        // E[x(e)] for e ~ U(0,1), by the midpoint rule.
        const int steps = 20_000;
        double expected = 0;
        for (int i = 0; i < steps; i++) expected += LabelNoise.FlipProbabilityForEntropy((i + 0.5) / steps, 10);
        expected /= steps;
        Assert.InRange(noisy.WrongFraction, expected - 0.01, expected + 0.01);

        int wrong = 0;
        int hiN = 0, hiWrong = 0, loN = 0, loWrong = 0;
        for (int i = 0; i < truth.Length; i++)
        {
            bool isWrong = noisy.Labels[i] != truth[i];
            if (isWrong) wrong++;
            Assert.InRange(noisy.Labels[i], 0, 9);
            if (noisy.Coherence[i] > 0.8f) { hiN++; if (isWrong) hiWrong++; }
            if (noisy.Coherence[i] < 0.2f) { loN++; if (isWrong) loWrong++; }
        }
        Assert.Equal((double)wrong / truth.Length, noisy.WrongFraction, 12);
        double hiRate = (double)hiWrong / hiN, loRate = (double)loWrong / loN;
        Assert.True(hiRate < 0.05, $"wrong fraction at coherence > 0.8 is {hiRate:F3}");
        Assert.True(loRate > 0.5, $"wrong fraction at coherence < 0.2 is {loRate:F3}");
        Assert.True(loRate > 10 * hiRate, $"low bucket {loRate:F3} vs high bucket {hiRate:F3}");
    }

    [Fact]
    public void EntropyProtocol_FlipsNeverKeepTheTrueLabel()
    {
        // With e close to 1 nearly every label is flipped; a flip must always land elsewhere.
        // Two classes make a same-class flip (a missing skip) show up as a too-low wrong fraction.
        var truth = SyntheticLabels(50_000, 5).Select(l => (byte)(l % 2)).ToArray();
        var noisy = LabelNoise.Entropy(truth, 2, seed: 3);
        double expected = 0;
        for (int i = 0; i < 10_000; i++) expected += LabelNoise.FlipProbabilityForEntropy((i + 0.5) / 10_000, 2);
        expected /= 10_000;
        Assert.InRange(noisy.WrongFraction, expected - 0.01, expected + 0.01);
        Assert.All(noisy.Labels, l => Assert.InRange(l, 0, 1));
    }

    [Fact]
    public void EntropyProtocol_IsSeeded()
    {
        var truth = SyntheticLabels(5000, 1);
        var a = LabelNoise.Entropy(truth, 10, seed: 42);
        var b = LabelNoise.Entropy(truth, 10, seed: 42);
        var c = LabelNoise.Entropy(truth, 10, seed: 43);
        Assert.Equal(a.Labels, b.Labels);
        Assert.Equal(a.Coherence, b.Coherence);
        Assert.NotEqual(a.Labels, c.Labels);
        Assert.NotEqual(a.Coherence, c.Coherence);
    }

    [Fact]
    public void TemperatureProtocol_FollowsTheSoftmax()
    {
        const int n = 4000;
        var logits = new float[n * 10];
        var truth = new byte[n];
        for (int i = 0; i < n; i++)
        {
            truth[i] = (byte)(i % 10);
            if (i < n / 2) logits[i * 10 + truth[i]] = 50f; // very confident rows; the rest stay uniform (all 0)
        }
        var noisy = LabelNoise.Temperature(logits, truth, 10, beta: 1.0, seed: 9);
        int uniformWrong = 0;
        for (int i = 0; i < n; i++)
        {
            if (i < n / 2)
            {
                Assert.Equal(truth[i], noisy.Labels[i]);
                Assert.InRange(noisy.Coherence[i], 0.999f, 1f);
            }
            else
            {
                Assert.InRange(noisy.Coherence[i], 0f, 1e-6f);
                if (noisy.Labels[i] != truth[i]) uniformWrong++;
            }
        }
        Assert.Equal(0.9, (double)uniformWrong / (n / 2), 0.03);
        Assert.Equal(uniformWrong / (double)n, noisy.WrongFraction, 12);
    }

    [Fact]
    public void TemperatureProtocol_HigherBetaLowersCoherence()
    {
        var rng = new Random(4);
        const int n = 3000;
        var logits = new float[n * 10];
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)(rng.NextDouble() * 6);
        var truth = new byte[n];
        for (int i = 0; i < n; i++)
        {
            var row = logits.AsSpan(i * 10, 10);
            truth[i] = (byte)row.IndexOf(row.ToArray().Max());
        }
        double previousCoherence = 1.1, previousWrong = -1;
        foreach (var beta in new[] { 0.1, 0.5, 1.0, 3.0 })
        {
            var noisy = LabelNoise.Temperature(logits, truth, 10, beta, seed: 1);
            double mean = noisy.Coherence.Average();
            Assert.True(mean < previousCoherence, $"beta {beta}: mean coherence {mean:F3} did not fall below {previousCoherence:F3}");
            Assert.True(noisy.WrongFraction > previousWrong, $"beta {beta}: wrong fraction {noisy.WrongFraction:F3} did not rise above {previousWrong:F3}");
            previousCoherence = mean;
            previousWrong = noisy.WrongFraction;
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => LabelNoise.Temperature(logits, truth, 10, 0, 1));
        Assert.Throws<ArgumentException>(() => LabelNoise.Temperature(logits.AsSpan(1).ToArray(), truth, 10, 1, 1));
    }

    [Fact]
    public void None_KeepsLabelsWithFullCoherence()
    {
        var noisy = LabelNoise.None([3, 1, 4]);
        Assert.Equal(new[] { 3, 1, 4 }, noisy.Labels);
        Assert.All(noisy.Coherence, c => Assert.Equal(1f, c));
        Assert.Equal(0, noisy.WrongFraction);
    }
}
