using CadStream.Evaluation.Metrics;

namespace CadStream.Tests.Evaluation.Metrics;

public class ManifoldMetricsTests
{
    // Real set with distinct gaps 1, 2, 4, 8. Distances to the others, and the 2nd nearest (k = 2):
    //   0: 1, 3, 7, 15  -> 3      ball [-3, 3]   holds 0, 1, 3
    //   1: 1, 2, 6, 14  -> 2      ball [-1, 3]   holds 0, 1, 3
    //   3: 3, 2, 4, 12  -> 3      ball [ 0, 6]   holds 0, 1, 3   (0 on the boundary)
    //   7: 7, 6, 4, 8   -> 6      ball [ 1, 13]  holds 1, 3, 7   (1 on the boundary)
    //  15: 15, 14, 12, 8 -> 12    ball [ 3, 27]  holds 3, 7, 15  (3 on the boundary)
    static readonly double[] Spread = [0, 1, 3, 7, 15];

    [Fact]
    public void Kth_neighbour_distance_excludes_the_point_itself()
    {
        Assert.Equal(new[] { 3.0, 2.0, 3.0, 6.0, 12.0 }, ManifoldMetrics.KthNeighbourDistances(TestData.Points1D(Spread), 2));
        // A duplicate is a neighbour at distance 0 (self is excluded by index, not by distance).
        Assert.Equal(new[] { 0.0, 0.0, 5.0 }, ManifoldMetrics.KthNeighbourDistances(TestData.Points1D(0, 0, 5), 1));
    }

    [Fact]
    public void Identical_sets_have_full_precision_recall_coverage_and_density_k_plus_1_over_k()
    {
        // Every ball above holds exactly 3 = k + 1 of the points (its centre and k neighbours), so
        // density = 5 · 3 / (k · M) = 15 / 10 = 1.5 = (k + 1) / k; everything is covered.
        var x = TestData.Points1D(Spread);
        var s = ManifoldMetrics.Compute(x, TestData.Points1D(Spread), k: 2);

        Assert.Equal(new ManifoldScores(Precision: 1, Recall: 1, Density: 1.5, Coverage: 1), s);
    }

    [Fact]
    public void Far_away_fake_set_scores_zero()
    {
        // Same shape shifted by 1000: the largest ball radius is 12, so no point reaches the other set.
        var far = TestData.Points1D(Spread.Select(v => v + 1000).ToArray());
        var s = ManifoldMetrics.Compute(TestData.Points1D(Spread), far, k: 2);

        Assert.Equal(new ManifoldScores(0, 0, 0, 0), s);
    }

    [Fact]
    public void Half_overlapping_1d_sets_with_boundary_ties()
    {
        // k = 1. Real {0,1,2,3}: every radius 1, balls [-1,1], [0,2], [1,3], [2,4].
        // Fake {2,3,10,11}: every radius 1, balls [1,3], [2,4], [9,11], [10,12].
        // precision: fakes in [-1,4] -> 2, 3          = 2/4 = 0.5
        // recall:    reals in [1,4] ∪ [9,12] -> 1,2,3 = 3/4 = 0.75
        // density:   fake 2 is in 3 real balls ([0,2],[1,3],[2,4]), fake 3 in 2 ([1,3],[2,4]),
        //            10 and 11 in none: (3 + 2) / (k·M = 4) = 1.25
        // coverage:  real balls holding a fake: [0,2], [1,3], [2,4] = 3/4 = 0.75
        // Most memberships sit exactly on a ball's boundary, so this also pins down "<=".
        var s = ManifoldMetrics.Compute(TestData.Points1D(0, 1, 2, 3), TestData.Points1D(2, 3, 10, 11), k: 1);

        Assert.Equal(new ManifoldScores(Precision: 0.5, Recall: 0.75, Density: 1.25, Coverage: 0.75), s);
    }

    [Fact]
    public void Partially_overlapping_2d_sets()
    {
        // k = 2, squared distances throughout.
        // Real: A(0,0) B(2,0) C(0,2) D(2,2) E(1,1). Corners: E at 2, two corners at 4 -> r² = 4.
        //       E: all four corners at 2 -> r² = 2.
        // Fake: P(1,0) Q(1,-1) V(0,-1) S(5,5) T(6,5) U(5,6).
        //       P: Q 1, V 2, ... -> r² = 2;  Q: P 1, V 1 -> 1;  V: Q 1, P 2 -> 2
        //       S: T 1, U 1 -> 1;  T: S 1, U 2 -> 2;  U: S 1, T 2 -> 2.
        // Real balls holding each fake (d² vs r²):
        //   P: A 1<=4, B 1<=4, C 5, D 5, E 1<=2 -> 3
        //   Q: A 2<=4, B 2<=4, C 10, D 10, E 4>2 -> 2
        //   V: A 1<=4, B 5, C 9, D 13, E 5 -> 1
        //   S, T, U: nearest real is D at 18, 25, 25 > 4 -> 0
        // precision = 3/6 = 0.5; density = (3 + 2 + 1) / (k·M = 12) = 0.5
        // coverage: A (P), B (P), E (P) hold a fake; C, D do not (nearest fake d² 5 > 4) -> 3/5 = 0.6
        // recall: A in P's ball (1 <= 2), B in P's (1 <= 2), E in P's (1 <= 2); C: P 5>2, Q 10>1,
        //         V 9>2, S 34>1, T 45>2, U 41>2 -> no; D: P 5>2, Q 10>1, V 13>2, S 18>1, T 25>2,
        //         U 25>2 -> no. Recall = 3/5 = 0.6
        var real = TestData.Points2D((0, 0), (2, 0), (0, 2), (2, 2), (1, 1));
        var fake = TestData.Points2D((1, 0), (1, -1), (0, -1), (5, 5), (6, 5), (5, 6));

        var s = ManifoldMetrics.Compute(real, fake, k: 2);

        Assert.Equal(new ManifoldScores(Precision: 0.5, Recall: 0.6, Density: 0.5, Coverage: 0.6), s);
    }

    [Fact]
    public void Matches_brute_force_definition_on_random_data()
    {
        // Sizes that are not multiples of the internal tile/vector widths, and clustered data so
        // the scores are far from 0 and 1.
        var rng = new Random(17);
        var real = Blobs(rng, 157, 13, shift: 0);
        var fake = Blobs(rng, 203, 13, shift: 2.0);
        const int k = 5;

        var expected = BruteForce(real, fake, k);
        var actual = ManifoldMetrics.Compute(real, fake, k);

        Assert.Equal(expected, actual);
        Assert.InRange(actual.Precision, 0.05, 0.95);
        Assert.InRange(actual.Recall, 0.05, 0.95);
        Assert.InRange(actual.Coverage, 0.05, 0.95);
    }

    [Fact]
    public void Independent_samples_of_one_distribution_have_density_near_1_and_coverage_near_1_minus_2_pow_minus_k()
    {
        // Naeem et al. 2020: for identical real and fake distributions E[density] = 1, and with
        // M = N, E[coverage] -> 1 - 2^-k = 0.875 for k = 3.
        var rng = new Random(23);
        const int n = 2000;
        var real = new FeatureSet(n, 2, Enumerable.Range(0, 2 * n).Select(_ => rng.NextDouble()).ToArray());
        var fake = new FeatureSet(n, 2, Enumerable.Range(0, 2 * n).Select(_ => rng.NextDouble()).ToArray());

        var s = ManifoldMetrics.Compute(real, fake, k: 3);

        Assert.InRange(s.Density, 0.93, 1.07);
        Assert.InRange(s.Coverage, 0.85, 0.90);
    }

    [Fact]
    public void Float_input_gives_the_same_scores()
    {
        var real = new FeatureSet(4, 1, new float[] { 0, 1, 2, 3 });
        var fake = new FeatureSet(4, 1, new float[] { 2, 3, 10, 11 });
        Assert.Equal(new ManifoldScores(0.5, 0.75, 1.25, 0.75), ManifoldMetrics.Compute(real, fake, k: 1));
    }

    [Fact]
    public void Invalid_arguments_throw()
    {
        var three = TestData.Points1D(0, 1, 2);
        Assert.Throws<ArgumentException>(() => ManifoldMetrics.Compute(three, three, k: 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => ManifoldMetrics.Compute(three, three, k: 0));
        Assert.Throws<ArgumentException>(() => ManifoldMetrics.Compute(three, TestData.Points2D((0, 0), (1, 1), (2, 2)), k: 1));
    }

    static FeatureSet Blobs(Random rng, int n, int d, double shift)
    {
        var x = new double[n * d];
        for (int r = 0; r < n; r++)
        {
            int blob = r % 3;
            for (int c = 0; c < d; c++) x[r * d + c] = TestData.Normal(rng) + (c == blob ? 3.0 : 0.0) + (c == 0 ? shift : 0.0);
        }
        return new FeatureSet(n, d, x);
    }

    /// <summary>The papers' definitions, literally: explicit differences, full sorts, no tiling.</summary>
    static ManifoldScores BruteForce(FeatureSet real, FeatureSet fake, int k)
    {
        static double Dist(FeatureSet a, int i, FeatureSet b, int j)
        {
            double s = 0;
            for (int c = 0; c < a.Dim; c++) s += (a[i, c] - b[j, c]) * (a[i, c] - b[j, c]);
            return Math.Sqrt(s);
        }
        static double[] Radii(FeatureSet x, int k) =>
            Enumerable.Range(0, x.Rows)
                .Select(i => Enumerable.Range(0, x.Rows).Where(j => j != i).Select(j => Dist(x, i, x, j)).Order().ElementAt(k - 1))
                .ToArray();

        var rr = Radii(real, k);
        var rf = Radii(fake, k);
        int n = real.Rows, m = fake.Rows;
        int precision = 0, recall = 0, coverage = 0;
        long density = 0;
        for (int j = 0; j < m; j++)
        {
            int inBalls = Enumerable.Range(0, n).Count(i => Dist(fake, j, real, i) <= rr[i]);
            density += inBalls;
            if (inBalls > 0) precision++;
        }
        for (int i = 0; i < n; i++)
        {
            if (Enumerable.Range(0, m).Any(j => Dist(real, i, fake, j) <= rf[j])) recall++;
            if (Enumerable.Range(0, m).Any(j => Dist(fake, j, real, i) <= rr[i])) coverage++;
        }
        return new ManifoldScores((double)precision / m, (double)recall / n, (double)density / ((double)k * m), (double)coverage / n);
    }
}
