namespace CadStream.Data;

/// <summary>Labels after noising, a coherence per sample in [0, 1], and the realised fraction of wrong labels.</summary>
public sealed record NoisyLabels(int[] Labels, float[] Coherence, double WrongFraction);

/// <summary>
/// The label-noise protocols of the CAD paper (docs/method.md, "Where coherence comes from").
/// Pure C# and seeded, so a run's noisy labels can be regenerated from (seed, protocol) alone.
/// </summary>
public static class LabelNoise
{
    /// <summary>Entropy of [1-x, x/(n-1), ..., x/(n-1)] divided by log n: 0 at x = 0, 1 at x = (n-1)/n.</summary>
    public static double NormalizedEntropyOfFlip(double x, int n)
    {
        if (n < 2) throw new ArgumentOutOfRangeException(nameof(n), $"need at least 2 classes, got {n}");
        if (!(x >= 0 && x <= 1)) throw new ArgumentOutOfRangeException(nameof(x), $"flip probability must be in [0, 1], got {x}");
        double h = 0;
        if (x < 1) h -= (1 - x) * Math.Log(1 - x);
        if (x > 0) h -= x * Math.Log(x / (n - 1)); // n-1 equal terms of x/(n-1)
        return h / Math.Log(n);
    }

    /// <summary>
    /// The flip probability x in [0, (n-1)/n] whose normalised entropy is <paramref name="e"/>.
    /// The entropy rises monotonically on that interval, so bisection finds the unique x.
    /// </summary>
    public static double FlipProbabilityForEntropy(double e, int n)
    {
        if (n < 2) throw new ArgumentOutOfRangeException(nameof(n), $"need at least 2 classes, got {n}");
        if (!(e >= 0 && e <= 1)) throw new ArgumentOutOfRangeException(nameof(e), $"normalised entropy must be in [0, 1], got {e}");
        double lo = 0, hi = (n - 1.0) / n;
        if (e == 0) return 0;
        if (e == 1) return hi;
        // Stops when the interval cannot shrink further in double precision (~55 steps).
        for (int i = 0; i < 200; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (mid <= lo || mid >= hi) break;
            if (NormalizedEntropyOfFlip(mid, n) < e) lo = mid; else hi = mid;
        }
        return 0.5 * (lo + hi);
    }

    /// <summary>
    /// Synthetic protocol (reference-code default for CIFAR-10 CAD): e ~ U(0,1), flip to a uniformly
    /// drawn other class with probability x(e), coherence = 1 - e.
    /// </summary>
    public static NoisyLabels Entropy(ReadOnlySpan<byte> labels, int numClasses, int seed)
    {
        CheckLabels(labels, numClasses);
        var rng = new Random(seed);
        var outLabels = new int[labels.Length];
        var coherence = new float[labels.Length];
        int wrong = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            double e = rng.NextDouble();
            double x = FlipProbabilityForEntropy(e, numClasses);
            int label = labels[i];
            if (rng.NextDouble() < x)
            {
                // Draw from the n-1 other classes: skip over the true one.
                int other = rng.Next(numClasses - 1);
                label = other >= label ? other + 1 : other;
            }
            outLabels[i] = label;
            coherence[i] = (float)(1 - e);
            if (label != labels[i]) wrong++;
        }
        return new NoisyLabels(outLabels, coherence, labels.Length == 0 ? 0 : (double)wrong / labels.Length);
    }

    /// <summary>
    /// Temperature protocol (paper): p = softmax(logits / beta), new label ~ Categorical(p),
    /// coherence = 1 - H(p) / log C. Larger beta flattens p: more wrong labels, lower coherence.
    /// </summary>
    public static NoisyLabels Temperature(ReadOnlySpan<float> logits, ReadOnlySpan<byte> labels, int numClasses, double beta, int seed)
    {
        CheckLabels(labels, numClasses);
        if (!(beta > 0) || double.IsInfinity(beta)) throw new ArgumentOutOfRangeException(nameof(beta), $"temperature beta must be a positive finite number, got {beta}");
        if (logits.Length != labels.Length * numClasses)
            throw new ArgumentException($"expected {labels.Length}x{numClasses} = {labels.Length * numClasses} logits, got {logits.Length}");
        var rng = new Random(seed);
        var outLabels = new int[labels.Length];
        var coherence = new float[labels.Length];
        var p = new double[numClasses];
        double logC = Math.Log(numClasses);
        int wrong = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            var row = logits.Slice(i * numClasses, numClasses);
            // Softmax in double, shifted by the row max so exp cannot overflow.
            double max = double.NegativeInfinity;
            foreach (var v in row)
            {
                if (!float.IsFinite(v)) throw new ArgumentException($"logit row {i} holds a non-finite value {v}");
                max = Math.Max(max, v / beta);
            }
            double sum = 0;
            for (int c = 0; c < numClasses; c++) sum += p[c] = Math.Exp(row[c] / beta - max);
            double h = 0;
            for (int c = 0; c < numClasses; c++)
            {
                p[c] /= sum;
                if (p[c] > 0) h -= p[c] * Math.Log(p[c]);
            }
            double u = rng.NextDouble(), acc = 0;
            int label = numClasses - 1; // if rounding leaves u above the last partial sum
            for (int c = 0; c < numClasses; c++)
            {
                acc += p[c];
                if (u < acc) { label = c; break; }
            }
            outLabels[i] = label;
            coherence[i] = (float)Math.Clamp(1 - h / logC, 0, 1);
            if (label != labels[i]) wrong++;
        }
        return new NoisyLabels(outLabels, coherence, labels.Length == 0 ? 0 : (double)wrong / labels.Length);
    }

    /// <summary>Clean labels, coherence 1 everywhere (the reference run).</summary>
    public static NoisyLabels None(ReadOnlySpan<byte> labels)
    {
        var outLabels = new int[labels.Length];
        for (int i = 0; i < labels.Length; i++) outLabels[i] = labels[i];
        var coherence = new float[labels.Length];
        Array.Fill(coherence, 1f);
        return new NoisyLabels(outLabels, coherence, 0);
    }

    static void CheckLabels(ReadOnlySpan<byte> labels, int numClasses)
    {
        if (numClasses < 2) throw new ArgumentOutOfRangeException(nameof(numClasses), $"need at least 2 classes, got {numClasses}");
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] >= numClasses) throw new ArgumentException($"label {labels[i]} at {i} is outside 0..{numClasses - 1}");
    }

    /// <summary>Parses a protocol name: none, entropy or temperature.</summary>
    public static LabelNoiseKind ParseKind(string s) => s.Trim().ToLowerInvariant() switch
    {
        "none" => LabelNoiseKind.None,
        "entropy" => LabelNoiseKind.Entropy,
        "temperature" => LabelNoiseKind.Temperature,
        _ => throw new ArgumentException($"unknown noise '{s}'; expected none, entropy or temperature"),
    };

    /// <summary>
    /// Noises the labels of <paramref name="images"/> with one protocol, seeded: the one place the
    /// offline trainer, the producer and the demo get noisy labels from. Temperature noise needs the
    /// clean-label classifier's logits (N x 10, row-major) of the images, hence <paramref name="classifierLogits"/>.
    /// </summary>
    public static NoisyLabels Apply(LabelNoiseKind kind, FashionMnist images, double beta, Func<FashionMnist, float[]>? classifierLogits, int seed) =>
        kind switch
        {
            LabelNoiseKind.None => None(images.Labels),
            LabelNoiseKind.Entropy => Entropy(images.Labels, FashionMnist.NumClasses, seed),
            _ => Temperature((classifierLogits ?? throw new ArgumentException("temperature noise needs a classifier file"))(images),
                images.Labels, FashionMnist.NumClasses, beta, seed),
        };
}

public enum LabelNoiseKind { None, Entropy, Temperature }
