namespace CadStream.Records.Coherence;

/// <summary>
/// Gathers the first N raw scores of a stream and then freezes a <see cref="CoherenceBins"/> table
/// from them, once; later scores do not move the edges (the reference code estimates them once from
/// the first ~100k scores). Until then <see cref="Provisional"/> gives an estimate from what has
/// arrived, for callers that cannot wait. Thread-safe.
/// </summary>
public sealed class CoherenceBinAccumulator
{
    public const int DefaultSampleSize = 100_000;

    private readonly object gate = new();
    private readonly List<double> gathered = [];
    private CoherenceBins? frozen;

    /// <summary>N: the scores the edges are estimated from.</summary>
    public int SampleSize { get; }
    public int Count { get; }
    public double ScoreScale { get; }
    /// <summary>The version the frozen table gets.</summary>
    public int Version { get; }

    public CoherenceBinAccumulator(int sampleSize = DefaultSampleSize, int count = CoherenceBins.DefaultCount, double scoreScale = 1, int version = 1)
    {
        if (sampleSize < 1) throw new ArgumentOutOfRangeException(nameof(sampleSize), $"sample size must be at least 1, got {sampleSize}");
        if (count < 2) throw new ArgumentOutOfRangeException(nameof(count), $"need at least 2 bins, got {count}");
        if (!double.IsFinite(scoreScale) || scoreScale <= 0) throw new ArgumentOutOfRangeException(nameof(scoreScale), $"score scale must be a positive number, got {scoreScale}");
        if (version < 1) throw new ArgumentOutOfRangeException(nameof(version), $"a frozen table's version must be at least 1, got {version}");
        SampleSize = sampleSize;
        Count = count;
        ScoreScale = scoreScale;
        Version = version;
    }

    /// <summary>An accumulator that is already frozen with <paramref name="bins"/> (a table read back from a snapshot).</summary>
    public static CoherenceBinAccumulator Resume(CoherenceBins bins)
    {
        ArgumentNullException.ThrowIfNull(bins);
        var a = new CoherenceBinAccumulator((int)Math.Clamp(bins.SampleCount, 1, int.MaxValue), bins.Count, bins.ScoreScale, Math.Max(1, bins.Version));
        a.frozen = bins;
        return a;
    }

    /// <summary>Scores gathered so far (N once frozen from a stream).</summary>
    public int Gathered
    {
        get { lock (gate) return frozen is null ? gathered.Count : SampleSize; }
    }

    public bool IsFrozen
    {
        get { lock (gate) return frozen is not null; }
    }

    /// <summary>The frozen table; null until N scores have arrived.</summary>
    public CoherenceBins? Bins
    {
        get { lock (gate) return frozen; }
    }

    /// <summary>Adds a raw score while gathering; returns true when this score completed the sample and froze the table.</summary>
    public bool Add(double score)
    {
        if (!double.IsFinite(score)) throw new ArgumentException($"score must be finite, got {score}");
        lock (gate)
        {
            if (frozen is not null) return false;
            gathered.Add(score);
            if (gathered.Count < SampleSize) return false;
            frozen = CoherenceBins.Estimate(gathered, Count, ScoreScale, Version);
            gathered.Clear();
            gathered.TrimExcess();
            return true;
        }
    }

    /// <summary>The frozen table, else an estimate (version 0) from the scores so far, else null when none arrived.</summary>
    public CoherenceBins? Provisional()
    {
        lock (gate)
            return frozen ?? (gathered.Count == 0 ? null : CoherenceBins.Estimate(gathered, Count, ScoreScale, version: 0));
    }
}
