namespace CadStream.Evaluation.Metrics;

/// <summary>Mean vector and covariance matrix (row-major Dim x Dim) of a Gaussian fitted to features.</summary>
public sealed class GaussianStats
{
    readonly double[] _mean;
    readonly double[] _covariance;

    public int Dim { get; }

    public ReadOnlySpan<double> Mean => _mean;

    /// <summary>Row-major Dim x Dim, exactly symmetric.</summary>
    public ReadOnlySpan<double> Covariance => _covariance;

    public double CovarianceAt(int row, int col) =>
        (uint)row < (uint)Dim && (uint)col < (uint)Dim ? _covariance[row * Dim + col] : throw new ArgumentOutOfRangeException(nameof(row));

    /// <summary>
    /// Stats given directly (e.g. a closed-form reference, or reference stats stored on disk).
    /// The covariance must be symmetric up to rounding (relative 1e-8); it is then symmetrised exactly.
    /// Positive semi-definiteness is not checked: the Fréchet distance clamps tiny negative eigenvalues.
    /// </summary>
    public GaussianStats(ReadOnlySpan<double> mean, ReadOnlySpan<double> covariance)
    {
        int d = mean.Length;
        if (d == 0) throw new ArgumentException("Mean must not be empty.", nameof(mean));
        if (covariance.Length != (long)d * d)
            throw new ArgumentException($"Covariance must have {d} x {d} values, got {covariance.Length}.", nameof(covariance));
        foreach (double x in mean)
            if (!double.IsFinite(x)) throw new ArgumentException("Mean has a non-finite value.", nameof(mean));
        double maxAbs = 0;
        foreach (double x in covariance)
        {
            if (!double.IsFinite(x)) throw new ArgumentException("Covariance has a non-finite value.", nameof(covariance));
            maxAbs = Math.Max(maxAbs, Math.Abs(x));
        }
        var cov = new double[d * d];
        for (int i = 0; i < d; i++)
        {
            for (int j = 0; j < d; j++)
            {
                double a = covariance[i * d + j], b = covariance[j * d + i];
                if (Math.Abs(a - b) > 1e-8 * maxAbs)
                    throw new ArgumentException($"Covariance is not symmetric at ({i}, {j}): {a} vs {b}.", nameof(covariance));
                cov[i * d + j] = 0.5 * (a + b);
            }
        }
        Dim = d;
        _mean = mean.ToArray();
        _covariance = cov;
    }

    GaussianStats(int dim, double[] mean, double[] covariance)
    {
        Dim = dim;
        _mean = mean;
        _covariance = covariance;
    }

    /// <summary>Sample mean and unbiased (n - 1) sample covariance, two-pass in double precision.</summary>
    public static GaussianStats FromFeatures(FeatureSet features)
    {
        ArgumentNullException.ThrowIfNull(features);
        int n = features.Rows, d = features.Dim;
        if (n < 2) throw new ArgumentException("The covariance needs at least two samples.", nameof(features));
        var x = features.Data;

        var mean = new double[d];
        for (int i = 0; i < n; i++)
        {
            var row = x.AsSpan(i * d, d);
            for (int j = 0; j < d; j++) mean[j] += row[j];
        }
        for (int j = 0; j < d; j++) mean[j] /= n;

        // Centred data, transposed (d x n) so each covariance entry is one contiguous dot product.
        var centred = new double[(long)d * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++)
                centred[(long)j * n + i] = x[i * d + j] - mean[j];

        var cov = new double[d * d];
        double denom = n - 1;
        Parallel.For(0, d, i =>
        {
            var ci = centred.AsSpan(i * n, n);
            for (int j = i; j < d; j++)
            {
                double c = VectorMath.Dot(ci, centred.AsSpan(j * n, n)) / denom;
                cov[i * d + j] = c;
                cov[j * d + i] = c;
            }
        });
        return new GaussianStats(d, mean, cov);
    }
}
