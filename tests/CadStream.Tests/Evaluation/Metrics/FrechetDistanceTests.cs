using CadStream.Evaluation.Metrics;

namespace CadStream.Tests.Evaluation.Metrics;

public class GaussianStatsTests
{
    [Fact]
    public void Mean_and_unbiased_covariance_of_three_points()
    {
        // Rows (1,2), (3,4), (5,0): mean (3,2); deviations (-2,0), (0,2), (2,-2);
        // with n - 1 = 2: var x = 8/2 = 4, var y = 8/2 = 4, cov xy = -4/2 = -2.
        var stats = GaussianStats.FromFeatures(new FeatureSet(3, 2, new float[] { 1, 2, 3, 4, 5, 0 }));

        Assert.Equal(new[] { 3.0, 2.0 }, stats.Mean.ToArray());
        Assert.Equal(new[] { 4.0, -2.0, -2.0, 4.0 }, stats.Covariance.ToArray());
        Assert.Equal(-2.0, stats.CovarianceAt(1, 0));
    }

    [Fact]
    public void Direct_construction_validates_shape_and_symmetry()
    {
        Assert.Throws<ArgumentException>(() => new GaussianStats([0.0, 0.0], [1.0, 2.0, 0.0, 1.0]));
        Assert.Throws<ArgumentException>(() => new GaussianStats([0.0, 0.0], [1.0, 0.0, 0.0]));
        Assert.Throws<ArgumentException>(() => GaussianStats.FromFeatures(TestData.Points1D(1.0)));
        Assert.Throws<ArgumentException>(() => TestData.Points1D(1.0, double.NaN));
    }
}

public class FrechetDistanceTests
{
    static GaussianStats Stats(double[] mean, double[] cov) => new(mean, cov);

    [Fact]
    public void One_dimensional_closed_form()
    {
        // N(1, 2²) vs N(-2, 3²): (m1 - m2)² + (s1 - s2)² = 9 + 1 = 10.
        double fd = FrechetDistance.Compute(Stats([1.0], [4.0]), Stats([-2.0], [9.0]));
        Assert.Equal(10.0, fd, 1e-12);
    }

    [Fact]
    public void Commuting_covariances_match_closed_form()
    {
        // S1 = Q diag(l1) Qᵀ, S2 = Q diag(l2) Qᵀ commute, so Tr(S1 + S2 - 2 sqrt(S1 S2)) = Σ (√l1 - √l2)².
        // One zero eigenvalue in each: without clamping eigenvalues within rounding noise of 0,
        // sqrt(noise ≈ 1e-16) would put the result ~3e-8 off.
        const int d = 10;
        var rng = new Random(11);
        var q = TestData.RandomOrthogonal(rng, d);
        var l1 = Enumerable.Range(0, d).Select(i => i == 3 ? 0.0 : 0.1 + 3 * rng.NextDouble()).ToArray();
        var l2 = Enumerable.Range(0, d).Select(i => i == 5 ? 0.0 : 0.1 + 3 * rng.NextDouble()).ToArray();
        var m1 = TestData.NormalArray(rng, d);
        var m2 = TestData.NormalArray(rng, d);

        double expected = 0;
        for (int i = 0; i < d; i++)
        {
            expected += (m1[i] - m2[i]) * (m1[i] - m2[i]);
            expected += (Math.Sqrt(l1[i]) - Math.Sqrt(l2[i])) * (Math.Sqrt(l1[i]) - Math.Sqrt(l2[i]));
        }

        double fd = FrechetDistance.Compute(
            Stats(m1, TestData.WithEigenvalues(q, l1)),
            Stats(m2, TestData.WithEigenvalues(q, l2)));
        Assert.Equal(expected, fd, 1e-8);
    }

    [Fact]
    public void Non_commuting_two_by_two_matches_hand_computation()
    {
        // S1 = [[2,1],[1,2]], S2 = diag(1,4); S1 S2 = [[2,4],[1,8]] ≠ S2 S1 = [[2,1],[4,8]].
        // S1 S2 is similar to the PSD sqrt(S1) S2 sqrt(S1), eigenvalues a, b >= 0, and for 2x2
        // (√a + √b)² = a + b + 2√(ab), so Tr sqrt(S1 S2) = sqrt(Tr(S1 S2) + 2 sqrt(det S1 det S2))
        //                                          = sqrt(10 + 2 sqrt(3·4)) = sqrt(10 + 4√3) ≈ 4.114390.
        // μ1 = (0,0), μ2 = (1,2): FD = 5 + Tr S1 + Tr S2 - 2 sqrt(10 + 4√3) = 14 - 2 sqrt(10 + 4√3) ≈ 5.771220.
        double expected = 14 - 2 * Math.Sqrt(10 + 4 * Math.Sqrt(3));

        double fd = FrechetDistance.Compute(Stats([0.0, 0.0], [2.0, 1.0, 1.0, 2.0]), Stats([1.0, 2.0], [1.0, 0.0, 0.0, 4.0]));
        Assert.Equal(expected, fd, 1e-12);
        Assert.Equal(Math.Sqrt(10 + 4 * Math.Sqrt(3)), FrechetDistance.TraceSqrtProduct([2.0, 1.0, 1.0, 2.0], [1.0, 0.0, 0.0, 4.0], 2), 1e-12);
    }

    [Fact]
    public void Singular_covariances_need_no_epsilon()
    {
        // S1 = [[1,0],[0,0]] = sqrt(S1), S2 = [[1,1],[1,1]]: sqrt(S1) S2 sqrt(S1) = [[1,0],[0,0]],
        // so Tr sqrt(S1 S2) = 1 and FD = 0 + 1 + 2 - 2 = 1.
        double fd = FrechetDistance.Compute(Stats([0.0, 0.0], [1.0, 0.0, 0.0, 0.0]), Stats([0.0, 0.0], [1.0, 1.0, 1.0, 1.0]));
        Assert.Equal(1.0, fd, 1e-12);
    }

    [Fact]
    public void Distance_of_a_set_to_itself_is_zero()
    {
        var rng = new Random(3);
        var full = CorrelatedFeatures(rng, 500, 16);
        var stats = GaussianStats.FromFeatures(full);
        double scale = Trace(stats);
        Assert.True(FrechetDistance.Compute(full, full) <= 1e-6 * scale);

        // Fewer samples than dimensions: the covariance has rank 9 of 32.
        var few = CorrelatedFeatures(rng, 10, 32);
        Assert.True(FrechetDistance.Compute(few, few) <= 1e-6 * Trace(GaussianStats.FromFeatures(few)));
    }

    [Fact]
    public void Is_symmetric_in_its_arguments()
    {
        var rng = new Random(5);
        var a = GaussianStats.FromFeatures(CorrelatedFeatures(rng, 400, 8));
        var b = GaussianStats.FromFeatures(CorrelatedFeatures(rng, 300, 8));

        double ab = FrechetDistance.Compute(a, b), ba = FrechetDistance.Compute(b, a);
        Assert.True(ab > 1, $"sets should differ, FD = {ab}");
        Assert.Equal(ab, ba, 1e-9 * ab);
    }

    [Fact]
    public void Shifting_the_mean_by_v_adds_squared_norm_of_v()
    {
        var rng = new Random(9);
        var f = CorrelatedFeatures(rng, 300, 6);
        var v = new[] { 0.5, -1.0, 2.0, 0.0, 0.25, -3.0 };
        var shifted = new double[f.Values.Length];
        for (int i = 0; i < shifted.Length; i++) shifted[i] = f.Values[i] + v[i % 6];
        double expected = v.Sum(x => x * x); // 14.3125

        double fd = FrechetDistance.Compute(f, new FeatureSet(f.Rows, f.Dim, shifted));
        Assert.Equal(expected, fd, 1e-8);
    }

    [Fact]
    public void Sampled_gaussians_approach_the_closed_form()
    {
        double[] m1 = [0, 0, 0], s1 = TestData.Diagonal(1, 2, 0.5);
        double[] m2 = [1, -1, 0.5], s2 = [2, 0.5, 0.3, 0.5, 1, 0.2, 0.3, 0.2, 1.5];
        double exact = FrechetDistance.Compute(Stats(m1, s1), Stats(m2, s2));

        var rng = new Random(21);
        double sampled = FrechetDistance.Compute(
            TestData.SampleGaussian(rng, m1, s1, 100_000),
            TestData.SampleGaussian(rng, m2, s2, 100_000));
        Assert.True(Math.Abs(sampled - exact) <= 0.02 * exact, $"sampled {sampled}, exact {exact}");
    }

    [Fact]
    public void Dimension_mismatch_throws()
    {
        Assert.Throws<ArgumentException>(() => FrechetDistance.Compute(Stats([0.0], [1.0]), Stats([0.0, 0.0], TestData.Identity(2))));
    }

    static double Trace(GaussianStats s)
    {
        double t = 0;
        for (int i = 0; i < s.Dim; i++) t += s.CovarianceAt(i, i);
        return t;
    }

    /// <summary>Gaussian features mixed by a random matrix, so the covariance is full.</summary>
    static FeatureSet CorrelatedFeatures(Random rng, int n, int d)
    {
        var mix = TestData.NormalArray(rng, d * d);
        var z = TestData.NormalArray(rng, n * d);
        var x = new double[n * d];
        for (int r = 0; r < n; r++)
            for (int i = 0; i < d; i++)
            {
                double s = 1.0 + i;
                for (int k = 0; k < d; k++) s += mix[i * d + k] * z[r * d + k];
                x[r * d + i] = s;
            }
        return new FeatureSet(n, d, x);
    }
}
