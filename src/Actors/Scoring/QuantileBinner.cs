namespace CadStream.Actors.Scoring;

/// <summary>
/// Turns raw alignment scores (e.g. CLIP scores) into coherence the way the paper does for text:
/// K equal-frequency bins, c = bin / (K - 1). The bin edges come from a running quantile estimate
/// over a bounded uniform reservoir of the scores seen so far, so the binning adapts to the stream.
/// </summary>
public sealed class QuantileBinner
{
    private readonly double[] reservoir;
    private readonly Random random;
    private long seen;
    private double[]? edges;
    private long edgesAt = -1;

    public int Bins { get; }
    public long Seen => seen;

    public QuantileBinner(int bins = 8, int reservoirSize = 10_000, int seed = 0)
    {
        if (bins < 2) throw new ArgumentOutOfRangeException(nameof(bins), "need at least 2 bins");
        Bins = bins;
        reservoir = new double[reservoirSize];
        random = new Random(seed);
    }

    /// <summary>Adds a score to the estimate and returns its coherence.</summary>
    public double Observe(double score)
    {
        if (!double.IsFinite(score)) throw new ArgumentException("score must be finite");
        if (seen < reservoir.Length) reservoir[seen] = score;
        else
        {
            long j = random.NextInt64(seen + 1);
            if (j < reservoir.Length) reservoir[j] = score;
        }
        seen++;
        return Coherence(score);
    }

    /// <summary>Coherence of a score under the current bin edges (0.5-ish before any data).</summary>
    public double Coherence(double score)
    {
        var e = Edges();
        if (e.Length == 0) return 1.0;
        int bin = 0;
        while (bin < e.Length && score > e[bin]) bin++;
        return bin / (double)(Bins - 1);
    }

    /// <summary>The K - 1 inner quantile edges, recomputed lazily (at most every 1% of new scores).</summary>
    public double[] Edges()
    {
        int n = (int)Math.Min(seen, reservoir.Length);
        if (n == 0) return [];
        if (edges is not null && seen - edgesAt < Math.Max(1, seen / 100)) return edges;
        var sorted = reservoir.AsSpan(0, n).ToArray();
        Array.Sort(sorted);
        edges = new double[Bins - 1];
        for (int b = 1; b < Bins; b++)
        {
            double q = b / (double)Bins * (n - 1);
            int lo = (int)Math.Floor(q);
            int hi = Math.Min(lo + 1, n - 1);
            edges[b - 1] = sorted[lo] + (q - lo) * (sorted[hi] - sorted[lo]);
        }
        edgesAt = seen;
        return edges;
    }
}
