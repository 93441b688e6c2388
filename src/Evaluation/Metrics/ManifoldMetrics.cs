namespace CadStream.Evaluation.Metrics;

/// <summary>Fidelity/diversity scores of a fake (generated) set against a real set.</summary>
/// <param name="Precision">Fraction of fake samples inside the real manifold (Kynkäänniemi et al. 2019).</param>
/// <param name="Recall">Fraction of real samples inside the fake manifold (Kynkäänniemi et al. 2019).</param>
/// <param name="Density">Mean number of real k-NN balls holding a fake sample, divided by k (Naeem et al. 2020); may exceed 1.</param>
/// <param name="Coverage">Fraction of real k-NN balls holding at least one fake sample (Naeem et al. 2020).</param>
public readonly record struct ManifoldScores(double Precision, double Recall, double Density, double Coverage);

/// <summary>
/// k-NN manifold metrics. With real X_1..X_N, fake Y_1..Y_M and NND_k(p) the distance from p to
/// its k-th nearest neighbour in its own set (p itself excluded, by index; duplicates count):
/// <list type="bullet">
/// <item>precision = (1/M) Σ_j 1[∃i: |Y_j - X_i| ≤ NND_k(X_i)]</item>
/// <item>recall    = (1/N) Σ_i 1[∃j: |X_i - Y_j| ≤ NND_k(Y_j)]</item>
/// <item>density   = (1/(kM)) Σ_j Σ_i 1[|Y_j - X_i| ≤ NND_k(X_i)]</item>
/// <item>coverage  = (1/N) Σ_i 1[∃j: |Y_j - X_i| ≤ NND_k(X_i)]</item>
/// </list>
/// Ball membership uses ≤ (closed balls). Note that a fake set identical to the real set has
/// density (k+1)/k, not 1 (each ball holds its centre and its k neighbours); density is 1 in
/// expectation for an independent sample of the real distribution.
/// </summary>
/// <remarks>
/// All pairwise squared distances are computed blockwise (never stored as an n x m matrix) with
/// |x|² + |y|² - 2x·y in double precision, in parallel over blocks of rows; the k-th neighbour
/// is kept by partial selection (a sorted k-buffer per row), not by sorting, and each pair within
/// a set is computed once.
/// </remarks>
public static class ManifoldMetrics
{
    const int RowBlock = 32;  // rows of the outer set per parallel work item
    const int ColBlock = 128; // rows of the inner set per tile (kept hot in cache)

    public static ManifoldScores Compute(FeatureSet real, FeatureSet fake, int k = 3)
    {
        ArgumentNullException.ThrowIfNull(real);
        ArgumentNullException.ThrowIfNull(fake);
        if (real.Dim != fake.Dim) throw new ArgumentException($"Dimension mismatch: {real.Dim} vs {fake.Dim}.", nameof(fake));
        CheckK(real, k, nameof(real));
        CheckK(fake, k, nameof(fake));

        var realRadius2 = KthNeighbourSquared(real, k);
        var fakeRadius2 = KthNeighbourSquared(fake, k);

        int n = real.Rows, m = fake.Rows, dim = real.Dim;
        var realNorms = VectorMath.RowNorms(real);
        var fakeNorms = VectorMath.RowNorms(fake);
        var realCovered = new bool[n];     // some fake lies in the real ball  -> coverage
        var realInFake = new bool[n];      // real lies in some fake ball      -> recall
        var fakeBallCount = new long[m];   // number of real balls holding the fake -> density, precision
        var gate = new object();

        int blocks = (n + RowBlock - 1) / RowBlock;
        Parallel.For(0, blocks,
            () => (tile: new double[RowBlock * ColBlock], counts: new long[m]),
            (block, _, local) =>
            {
                int i0 = block * RowBlock, ni = Math.Min(RowBlock, n - i0);
                for (int j0 = 0; j0 < m; j0 += ColBlock)
                {
                    int nj = Math.Min(ColBlock, m - j0);
                    VectorMath.SquaredDistanceTile(real.Data, realNorms, i0, ni, fake.Data, fakeNorms, j0, nj, dim, local.tile);
                    for (int ii = 0; ii < ni; ii++)
                    {
                        int i = i0 + ii;
                        double ri = realRadius2[i];
                        bool covered = false, inFake = false;
                        var row = local.tile.AsSpan(ii * nj, nj);
                        for (int jj = 0; jj < row.Length; jj++)
                        {
                            double d2 = row[jj];
                            if (d2 <= ri)
                            {
                                local.counts[j0 + jj]++;
                                covered = true;
                            }
                            if (d2 <= fakeRadius2[j0 + jj]) inFake = true;
                        }
                        if (covered) realCovered[i] = true;
                        if (inFake) realInFake[i] = true;
                    }
                }
                return local;
            },
            local =>
            {
                lock (gate)
                    for (int j = 0; j < m; j++) fakeBallCount[j] += local.counts[j];
            });

        long inside = 0, total = 0;
        foreach (long c in fakeBallCount)
        {
            if (c > 0) inside++;
            total += c;
        }
        return new ManifoldScores(
            Precision: (double)inside / m,
            Recall: (double)realInFake.Count(b => b) / n,
            Density: (double)total / ((double)k * m),
            Coverage: (double)realCovered.Count(b => b) / n);
    }

    /// <summary>NND_k for every row: Euclidean distance to its k-th nearest other row of the same set.</summary>
    public static double[] KthNeighbourDistances(FeatureSet set, int k)
    {
        ArgumentNullException.ThrowIfNull(set);
        CheckK(set, k, nameof(set));
        var r = KthNeighbourSquared(set, k);
        for (int i = 0; i < r.Length; i++) r[i] = Math.Sqrt(r[i]);
        return r;
    }

    static void CheckK(FeatureSet set, int k, string name)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        if (k >= set.Rows)
            throw new ArgumentException($"k = {k} needs more than k samples; the set has {set.Rows}.", name);
    }

    /// <summary>
    /// Squared NND_k of every row. Each unordered pair is computed once (tiles on or right of the
    /// diagonal) and offered to both rows' k-buffers; every worker keeps k-buffers for all rows
    /// and the buffers are merged at the end, so no row is updated by two threads at once.
    /// </summary>
    static double[] KthNeighbourSquared(FeatureSet set, int k)
    {
        int n = set.Rows, dim = set.Dim;
        var data = set.Data;
        var norms = VectorMath.RowNorms(set);
        var best = new double[n * k]; // per row: the k smallest distances to other rows, ascending
        Array.Fill(best, double.PositiveInfinity);
        var gate = new object();

        int blocks = (n + RowBlock - 1) / RowBlock;
        Parallel.For(0, blocks,
            () =>
            {
                var kept = new double[n * k];
                Array.Fill(kept, double.PositiveInfinity);
                return (tile: new double[RowBlock * ColBlock], kept);
            },
            (block, _, local) =>
            {
                int i0 = block * RowBlock, ni = Math.Min(RowBlock, n - i0);
                var kept = local.kept;
                for (int j0 = i0; j0 < n; j0 += ColBlock)
                {
                    int nj = Math.Min(ColBlock, n - j0);
                    VectorMath.SquaredDistanceTile(data, norms, i0, ni, data, norms, j0, nj, dim, local.tile);
                    for (int ii = 0; ii < ni; ii++)
                    {
                        int i = i0 + ii;
                        var row = local.tile.AsSpan(ii * nj, nj);
                        var keptI = kept.AsSpan(i * k, k);
                        for (int jj = Math.Max(0, i + 1 - j0); jj < row.Length; jj++) // pairs j > i only
                        {
                            double d2 = row[jj];
                            Offer(keptI, d2);
                            Offer(kept.AsSpan((j0 + jj) * k, k), d2);
                        }
                    }
                }
                return local;
            },
            local =>
            {
                lock (gate)
                {
                    for (int r = 0; r < n; r++)
                    {
                        var target = best.AsSpan(r * k, k);
                        foreach (double d2 in local.kept.AsSpan(r * k, k)) Offer(target, d2);
                    }
                }
            });

        var result = new double[n];
        for (int r = 0; r < n; r++) result[r] = best[r * k + k - 1];
        return result;
    }

    /// <summary>Partial selection: keeps the k smallest values offered, ascending, in <paramref name="kept"/>.</summary>
    static void Offer(Span<double> kept, double d2)
    {
        int p = kept.Length - 1;
        if (!(d2 < kept[p])) return;
        while (p > 0 && kept[p - 1] > d2)
        {
            kept[p] = kept[p - 1];
            p--;
        }
        kept[p] = d2;
    }
}
