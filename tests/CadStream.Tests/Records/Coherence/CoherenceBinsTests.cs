using CadStream.Records.Coherence;

namespace CadStream.Tests.Records.Coherence;

public sealed class CoherenceBinsTests
{
    [Fact]
    public void Edges_AreTheOrderStatistics_WhenQuantilePositionsAreWhole()
    {
        // n = 5, K = 4: positions j/4 * (5 - 1) = j, so the inner edges are x[1], x[2], x[3].
        var bins = CoherenceBins.Estimate([0.5, 0.1, 0.4, 0.2, 0.3], count: 4);
        Assert.Equal([0, 0.2, 0.3, 0.4, 1], bins.Edges);
        Assert.Equal(5, bins.SampleCount);
        Assert.Equal(4, bins.Count);
    }

    [Fact]
    public void Edges_InterpolateLinearlyBetweenOrderStatistics_AfterScaling()
    {
        // Scores 0..3 on a 0..10 scale: x = 0, 0.1, 0.2, 0.3. K = 2: position 0.5 * 3 = 1.5, edge 0.1 + 0.5 * 0.1.
        var two = CoherenceBins.Estimate([3, 1, 0, 2], count: 2, scoreScale: 10);
        Assert.Equal(0.15, two.Edges[1], 1e-12);
        Assert.Equal(0, two.Coherence(1.5));   // 0.15 sits on the edge: the lower bin
        Assert.Equal(1, two.Coherence(1.51));
        // K = 3: positions 1 and 2, edges x[1] and x[2].
        var three = CoherenceBins.Estimate([3, 1, 0, 2], count: 3, scoreScale: 10);
        Assert.Equal(0.1, three.Edges[1], 1e-12);
        Assert.Equal(0.2, three.Edges[2], 1e-12);
    }

    [Fact]
    public void Bins_AreRightInclusive_OneBased_AndCoherenceIsBinMinusOneOverKMinusOne()
    {
        var bins = new CoherenceBins([0, 0.2, 0.3, 0.4, 1]);
        Assert.Equal(1, bins.Bin(0.1));
        Assert.Equal(1, bins.Bin(0.2));          // edges[0] < x <= edges[1]
        Assert.Equal(2, bins.Bin(0.2000001));
        Assert.Equal(2, bins.Bin(0.3));
        Assert.Equal(3, bins.Bin(0.35));
        Assert.Equal(4, bins.Bin(0.4000001));
        Assert.Equal(4, bins.Bin(1));
        Assert.Equal(0, bins.Coherence(0.2));
        Assert.Equal(1 / 3.0, bins.Coherence(0.25), 1e-12);
        Assert.Equal(2 / 3.0, bins.Coherence(0.35), 1e-12);
        Assert.Equal(1, bins.Coherence(0.9));
    }

    [Fact]
    public void ScoresOutsideTheEnds_GoToTheEndBins_SoCoherenceStaysInZeroOne()
    {
        // The reference would give bin 0 (c = -1/3) at or below 0 and bin K+1 (c = 4/3) above 1.
        var bins = new CoherenceBins([0, 0.2, 0.3, 0.4, 1]);
        Assert.Equal(1, bins.Bin(0));
        Assert.Equal(1, bins.Bin(-5));
        Assert.Equal(4, bins.Bin(1.5));
        Assert.Equal(0, bins.Coherence(-5));
        Assert.Equal(1, bins.Coherence(42));
        Assert.Throws<ArgumentException>(() => bins.Bin(double.NaN));
    }

    [Fact]
    public void TiedScores_LandInTheLowestOfTheTiedBins_AndTheBinsBetweenStayEmpty()
    {
        // x = 0.1, 0.2, 0.2, 0.2, 0.9 with K = 4: inner edges x[1..3] are all 0.2.
        var bins = CoherenceBins.Estimate([0.2, 0.9, 0.2, 0.1, 0.2], count: 4);
        Assert.Equal([0, 0.2, 0.2, 0.2, 1], bins.Edges);
        Assert.Equal(1, bins.Bin(0.2));
        Assert.Equal(1, bins.Bin(0.1));
        Assert.Equal(4, bins.Bin(0.2001));
        Assert.Equal(4, bins.Bin(0.9));
        // All scores equal: every score at the tie gets c = 0.
        var constant = CoherenceBins.Estimate(Enumerable.Repeat(0.5, 10).ToList());
        Assert.Equal(0, constant.Coherence(0.5));
        Assert.Equal(1, constant.Coherence(0.51));
    }

    [Fact]
    public void DistinctScores_FillEveryBinEqually()
    {
        // x = i / 1000, i = 1..1000, K = 8: edge j = (124.875 j + 1) / 1000, so bin j holds i in (125(j-1), 125 j].
        var scores = Enumerable.Range(1, 1000).Select(i => i / 1000.0).ToList();
        var bins = CoherenceBins.Estimate(scores);
        for (int j = 1; j < 8; j++) Assert.Equal((124.875 * j + 1) / 1000, bins.Edges[j], 1e-12);
        var counts = scores.GroupBy(bins.Bin).OrderBy(g => g.Key).Select(g => g.Count()).ToArray();
        Assert.Equal(Enumerable.Repeat(125, 8), counts);
        Assert.Equal(Enumerable.Range(0, 8).Select(b => b / 7.0), Enumerable.Range(1, 8).Select(bins.CoherenceOfBin));
    }

    [Fact]
    public void InnerEdges_BelowZero_AreClampedSoEdgesStayOrdered()
    {
        // K = 2, x = -0.5, -0.2, 0.1, 0.4: the median -0.05 becomes 0; every positive score is then in the top bin.
        var bins = CoherenceBins.Estimate([-0.5, -0.2, 0.1, 0.4], count: 2);
        Assert.Equal([0, 0, 1], bins.Edges);
        Assert.Equal(0, bins.Coherence(-0.3));
        Assert.Equal(0, bins.Coherence(0));
        Assert.Equal(1, bins.Coherence(0.01));
    }

    [Fact]
    public void ContentHash_CoversEdgesAndScale_NotVersion()
    {
        var a = CoherenceBins.Estimate([0.1, 0.2, 0.3, 0.4, 0.5], count: 4, version: 1);
        var b = CoherenceBins.Estimate([0.1, 0.2, 0.3, 0.4, 0.5], count: 4, version: 2);
        var scaled = CoherenceBins.Estimate([10, 20, 30, 40, 50], count: 4, scoreScale: 100);
        var other = CoherenceBins.Estimate([0.1, 0.2, 0.3, 0.45, 0.5], count: 4);
        Assert.Matches("^[0-9a-f]{64}$", a.ContentHash);
        Assert.True(a.SameMeaning(b));
        Assert.NotEqual(a.Version, b.Version);
        Assert.False(a.SameMeaning(other));
        Assert.False(a.SameMeaning(scaled)); // same edges, other scale
        Assert.Equal(a.Coherence(0.35), scaled.Coherence(35));
    }

    [Fact]
    public void Json_And_Binary_RoundTrip_Exactly()
    {
        var rng = new Random(5);
        var bins = CoherenceBins.Estimate(Enumerable.Range(0, 777).Select(_ => rng.NextDouble() * 40).ToList(), count: 8, scoreScale: 100, version: 3);
        foreach (var back in new[] { CoherenceBins.FromJson(bins.ToJson()), CoherenceBins.FromBytes(bins.ToBytes()) })
        {
            Assert.Equal(bins.Edges, back.Edges); // bit-exact doubles
            Assert.Equal(bins.ScoreScale, back.ScoreScale);
            Assert.Equal(bins.Version, back.Version);
            Assert.Equal(777, back.SampleCount);
            Assert.Equal(bins.ContentHash, back.ContentHash);
        }
        Assert.Equal(4 + 1 + 4 + 8 + 4 + 8 + 9 * 8 + 32, bins.ToBytes().Length);
        Assert.Contains("\"sha256\":\"" + bins.ContentHash + "\"", bins.ToJson());
    }

    [Fact]
    public void DamagedTables_AreRefused_WithAReason()
    {
        var bins = CoherenceBins.Estimate([0.1, 0.2, 0.3, 0.4, 0.5], count: 4);
        var bytes = bins.ToBytes();
        bytes[40] ^= 1; // inside an edge
        Assert.Contains("checksum", Assert.Throws<InvalidDataException>(() => CoherenceBins.FromBytes(bytes)).Message);
        Assert.Throws<InvalidDataException>(() => CoherenceBins.FromBytes(bins.ToBytes()[..^1]));
        Assert.Throws<InvalidDataException>(() => CoherenceBins.FromBytes("nope"u8));

        var json = bins.ToJson();
        Assert.Contains("checksum", Assert.Throws<InvalidDataException>(() => CoherenceBins.FromJson(json.Replace("0.3", "0.31"))).Message);
        Assert.Contains("end edges", Assert.Throws<InvalidDataException>(() => CoherenceBins.FromJson(json.Replace(",1],", ",0.9],"))).Message);
        Assert.Throws<InvalidDataException>(() => CoherenceBins.FromJson(json.Replace("\"format\":1", "\"format\":7")));
        Assert.Throws<InvalidDataException>(() => CoherenceBins.FromJson("{"));
        Assert.Throws<InvalidDataException>(() => CoherenceBins.FromJson("{\"format\":1}"));
        Assert.Throws<ArgumentException>(() => new CoherenceBins([0, 0.5, 0.4, 1]));
        Assert.Throws<ArgumentException>(() => new CoherenceBins([0, 1]));
    }

    [Fact]
    public void Accumulator_FreezesOnTheNthScore_AndLaterScoresDoNotMoveTheEdges()
    {
        var acc = new CoherenceBinAccumulator(sampleSize: 5, count: 4, version: 2);
        Assert.Null(acc.Provisional());
        double[] first = [0.5, 0.1, 0.4, 0.2];
        foreach (var s in first) Assert.False(acc.Add(s));
        Assert.False(acc.IsFrozen);
        Assert.Null(acc.Bins);
        var provisional = acc.Provisional()!;
        Assert.Equal(0, provisional.Version);
        Assert.Equal(CoherenceBins.Estimate(first, 4).Edges, provisional.Edges);

        Assert.True(acc.Add(0.3));
        var frozen = acc.Bins!;
        Assert.Equal([0, 0.2, 0.3, 0.4, 1], frozen.Edges);
        Assert.Equal(2, frozen.Version);
        Assert.False(acc.Add(0.99));
        Assert.False(acc.Add(0.01));
        Assert.Same(frozen, acc.Bins);
        Assert.Same(frozen, acc.Provisional());

        var resumed = CoherenceBinAccumulator.Resume(CoherenceBins.FromBytes(frozen.ToBytes()));
        Assert.True(resumed.IsFrozen);
        Assert.False(resumed.Add(0.7));
        Assert.True(frozen.SameMeaning(resumed.Bins!));
    }

    [Fact]
    public void Accumulator_FreezesExactlyOnce_UnderConcurrentScores()
    {
        var acc = new CoherenceBinAccumulator(sampleSize: 1000);
        int froze = 0;
        Parallel.For(0, 8, t =>
        {
            var rng = new Random(t);
            for (int i = 0; i < 500; i++)
                if (acc.Add(rng.NextDouble())) Interlocked.Increment(ref froze);
        });
        Assert.Equal(1, froze);
        Assert.Equal(1000, acc.Bins!.SampleCount);
        Assert.Equal(1000, acc.Gathered);
    }
}
