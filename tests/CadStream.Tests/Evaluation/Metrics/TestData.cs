using CadStream.Evaluation.Metrics;

namespace CadStream.Tests.Evaluation.Metrics;

/// <summary>Deterministic random data for the metric tests.</summary>
static class TestData
{
    public static double Normal(Random rng)
    {
        // Box-Muller; 1 - NextDouble() is in (0, 1], so the log is finite.
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    public static double[] NormalArray(Random rng, int count)
    {
        var a = new double[count];
        for (int i = 0; i < a.Length; i++) a[i] = Normal(rng);
        return a;
    }

    /// <summary>Random orthogonal n x n matrix (row-major), modified Gram-Schmidt on Gaussian columns.</summary>
    public static double[] RandomOrthogonal(Random rng, int n)
    {
        var q = NormalArray(rng, n * n);
        for (int c = 0; c < n; c++)
        {
            for (int p = 0; p < c; p++)
            {
                double dot = 0;
                for (int r = 0; r < n; r++) dot += q[r * n + c] * q[r * n + p];
                for (int r = 0; r < n; r++) q[r * n + c] -= dot * q[r * n + p];
            }
            double norm = 0;
            for (int r = 0; r < n; r++) norm += q[r * n + c] * q[r * n + c];
            norm = Math.Sqrt(norm);
            for (int r = 0; r < n; r++) q[r * n + c] /= norm;
        }
        return q;
    }

    /// <summary>Q diag(values) Qᵀ.</summary>
    public static double[] WithEigenvalues(double[] q, double[] values)
    {
        int n = values.Length;
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int k = 0; k < n; k++) s += q[i * n + k] * values[k] * q[j * n + k];
                a[i * n + j] = s;
            }
        return a;
    }

    public static double[] Diagonal(params double[] values) => WithEigenvalues(Identity(values.Length), values);

    public static double[] Identity(int n)
    {
        var a = new double[n * n];
        for (int i = 0; i < n; i++) a[i * n + i] = 1;
        return a;
    }

    /// <summary>n samples of N(mean, cov): mean + L z with cov = L Lᵀ (Cholesky).</summary>
    public static FeatureSet SampleGaussian(Random rng, double[] mean, double[] cov, int n)
    {
        int d = mean.Length;
        var l = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j <= i; j++)
            {
                double s = cov[i * d + j];
                for (int k = 0; k < j; k++) s -= l[i * d + k] * l[j * d + k];
                l[i * d + j] = i == j ? Math.Sqrt(s) : s / l[j * d + j];
            }
        var data = new double[n * d];
        var z = new double[d];
        for (int r = 0; r < n; r++)
        {
            for (int k = 0; k < d; k++) z[k] = Normal(rng);
            for (int i = 0; i < d; i++)
            {
                double s = mean[i];
                for (int k = 0; k <= i; k++) s += l[i * d + k] * z[k];
                data[r * d + i] = s;
            }
        }
        return new FeatureSet(n, d, data);
    }

    public static FeatureSet Points1D(params double[] xs) => new(xs.Length, 1, xs);

    public static FeatureSet Points2D(params (double X, double Y)[] points) =>
        FeatureSet.FromRows(points.Select(p => new[] { p.X, p.Y }).ToArray());
}
