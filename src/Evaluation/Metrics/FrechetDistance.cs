namespace CadStream.Evaluation.Metrics;

/// <summary>
/// Fréchet distance between two Gaussians (the FID when the features come from an image or
/// shape encoder): |μ1 - μ2|² + Tr(S1) + Tr(S2) - 2 Tr(sqrt(S1 S2)).
/// </summary>
/// <remarks>
/// Tr sqrt(S1 S2) is computed without a non-symmetric matrix square root: S1 S2 is similar to
/// M = sqrt(S1) S2 sqrt(S1), which is symmetric PSD, so Tr sqrt(S1 S2) = Σ sqrt(max(eig(M), 0)).
/// sqrt(S1) comes from a symmetric eigendecomposition; negative eigenvalues and those within
/// rounding noise of 0 (below d·ε·max|λ|) are clamped to 0, here and for M.
/// The standard FID code (scipy.linalg.sqrtm of S1 S2) adds eps·I to both covariances when the
/// product is nearly singular and drops spurious imaginary parts; this eigen route handles
/// singular / rank-deficient covariances (e.g. fewer samples than dimensions) without that.
/// </remarks>
public static class FrechetDistance
{
    /// <summary>The Fréchet distance (squared-distance units), clamped at 0 against rounding.</summary>
    public static double Compute(GaussianStats a, GaussianStats b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Dim != b.Dim) throw new ArgumentException($"Dimension mismatch: {a.Dim} vs {b.Dim}.", nameof(b));
        int d = a.Dim;

        double meanTerm = 0;
        for (int i = 0; i < d; i++)
        {
            double diff = a.Mean[i] - b.Mean[i];
            meanTerm += diff * diff;
        }
        double trA = 0, trB = 0;
        for (int i = 0; i < d; i++)
        {
            trA += a.Covariance[i * d + i];
            trB += b.Covariance[i * d + i];
        }

        double fd = meanTerm + trA + trB - 2 * TraceSqrtProduct(a.Covariance, b.Covariance, d);
        return Math.Max(fd, 0);
    }

    /// <summary>Fits <see cref="GaussianStats"/> to both feature sets and compares them.</summary>
    public static double Compute(FeatureSet a, FeatureSet b) =>
        Compute(GaussianStats.FromFeatures(a), GaussianStats.FromFeatures(b));

    /// <summary>Tr sqrt(S1 S2) for symmetric PSD S1, S2 (row-major d x d).</summary>
    public static double TraceSqrtProduct(ReadOnlySpan<double> s1, ReadOnlySpan<double> s2, int d)
    {
        if (s1.Length != d * d || s2.Length != d * d) throw new ArgumentException("Matrices must be d x d.");

        // sqrt(S1) = V diag(sqrt λ) Vᵀ, with λ below the rounding floor set to 0.
        var eig = SymmetricEigen.Decompose(s1, d);
        var values = eig.Values.ToArray();
        ClampRoundingNoise(values);
        var scaled = new double[d * d]; // V diag(sqrt λ)
        var v = eig.Vectors;
        for (int k = 0; k < d; k++)
        {
            double s = Math.Sqrt(values[k]);
            for (int i = 0; i < d; i++) scaled[i * d + k] = v[i * d + k] * s;
        }
        var vectors = v.ToArray();
        var root = new double[d * d];
        Parallel.For(0, d, i =>
        {
            var si = scaled.AsSpan(i * d, d);
            for (int j = i; j < d; j++)
            {
                double r = VectorMath.Dot(si, vectors.AsSpan(j * d, d)); // Σ_k V_ik sqrt(λ_k) V_jk
                root[i * d + j] = r;
                root[j * d + i] = r;
            }
        });

        var m = Multiply(Multiply(root, s2.ToArray(), d), root, d); // sqrt(S1) S2 sqrt(S1)
        var mValues = SymmetricEigen.Eigenvalues(m, d); // symmetrises m
        ClampRoundingNoise(mValues);
        double trace = 0;
        foreach (double lambda in mValues) trace += Math.Sqrt(lambda);
        return trace;
    }

    /// <summary>
    /// Sets eigenvalues at or below d·ε·max|λ| to 0. A computed eigenvalue is only accurate to about
    /// ε·max|λ|, so a true zero (rank-deficient covariance, e.g. fewer samples than dimensions)
    /// comes out as ±noise, and its square root would add ~sqrt(ε)·scale error per direction;
    /// clamping such values changes the result by no more than that noise already does.
    /// </summary>
    static void ClampRoundingNoise(double[] eigenvalues)
    {
        double max = 0;
        foreach (double l in eigenvalues) max = Math.Max(max, Math.Abs(l));
        double floor = eigenvalues.Length * 2.220446049250313e-16 * max; // d · 2^-52 · max|λ|
        for (int i = 0; i < eigenvalues.Length; i++)
            if (eigenvalues[i] <= floor) eigenvalues[i] = 0;
    }

    static double[] Multiply(double[] a, double[] b, int n)
    {
        var c = new double[n * n];
        Parallel.For(0, n, i =>
        {
            var ci = c.AsSpan(i * n, n);
            for (int k = 0; k < n; k++) VectorMath.Axpy(ci, a[i * n + k], b.AsSpan(k * n, n));
        });
        return c;
    }
}
