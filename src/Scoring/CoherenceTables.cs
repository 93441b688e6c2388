using System.Collections.Concurrent;
using CadStream.Records.Coherence;

namespace CadStream.Scoring;

/// <summary>
/// The coherence bin table of each model on this node, shared by all of the node's scorers so that the
/// pool agrees on what a raw score means. A model's table gathers the first <see cref="SampleSize"/> raw
/// scores its pairs bring (a record's <c>score</c>, or the built-in caption agreement put on the score
/// scale by <see cref="AgreementScore"/>), then freezes: later scores never move its edges. Until then
/// scores are binned by an estimate from the scores so far (a table of version 0), refreshed as the
/// sample grows by 1 %, so no pair waits for the table. Thread-safe.
/// </summary>
public sealed class CoherenceTables
{
    private readonly ConcurrentDictionary<string, Table> tables = new(StringComparer.Ordinal);

    /// <summary>N: the scores a table's edges are estimated from before it freezes.</summary>
    public int SampleSize { get; }
    /// <summary>K: bins per table.</summary>
    public int Bins { get; }
    /// <summary>Raw scores are divided by this before binning (100 for CLIP scores, cosine x 100).</summary>
    public double ScoreScale { get; }

    public CoherenceTables(int sampleSize = CoherenceBinAccumulator.DefaultSampleSize, int bins = CoherenceBins.DefaultCount, double scoreScale = 100)
    {
        // The accumulator checks the same bounds; checking here names the settings before any model scores.
        if (sampleSize < 1) throw new ArgumentException($"Scoring:ScoreBinSamples must be at least 1, got {sampleSize}");
        if (bins < 2) throw new ArgumentException($"Scoring:ScoreBins must be at least 2, got {bins}");
        if (!double.IsFinite(scoreScale) || scoreScale <= 0) throw new ArgumentException($"Scoring:ScoreScale must be a positive number, got {scoreScale}");
        SampleSize = sampleSize;
        Bins = bins;
        ScoreScale = scoreScale;
    }

    public static CoherenceTables From(ScoringOptions options) => new(options.ScoreBinSamples, options.ScoreBins, options.ScoreScale);

    /// <summary>
    /// The coherence of each raw score for <paramref name="modelId"/>: the scores join the model's sample
    /// while it is gathered, then each is binned by the frozen table, or by the estimate so far. Returns the
    /// table used, which is what the coherences mean.
    /// </summary>
    public (float[] Coherence, CoherenceBins Table) Bin(string modelId, IReadOnlyList<double> scores)
    {
        ArgumentNullException.ThrowIfNull(scores);
        if (scores.Count == 0) throw new ArgumentException("no scores to bin");
        var t = TableOf(modelId);
        foreach (var s in scores) t.Accumulator.Add(s);
        var bins = t.Accumulator.Bins ?? t.Estimate();
        var coherence = new float[scores.Count];
        for (int i = 0; i < coherence.Length; i++) coherence[i] = (float)bins.Coherence(scores[i]);
        return (coherence, bins);
    }

    /// <summary>The frozen table of a model; null while its first scores are gathered (or none came).</summary>
    public CoherenceBins? Get(string modelId) => tables.TryGetValue(modelId, out var t) ? t.Accumulator.Bins : null;

    /// <summary>The frozen table, else the estimate (version 0) that scores are binned by now, else null when none came.</summary>
    public CoherenceBins? Current(string modelId) =>
        tables.TryGetValue(modelId, out var t) ? t.Accumulator.Bins ?? (t.Accumulator.Gathered > 0 ? t.Estimate() : null) : null;

    /// <summary>Scores gathered for a model's table (N once frozen).</summary>
    public int Gathered(string modelId) => tables.TryGetValue(modelId, out var t) ? t.Accumulator.Gathered : 0;

    /// <summary>
    /// Takes a frozen table for a model (one read back from its snapshot), so that scores keep the meaning
    /// the model learned them with; replaces what this node gathered or froze for it.
    /// </summary>
    public void Adopt(string modelId, CoherenceBins bins)
    {
        ArgumentNullException.ThrowIfNull(bins);
        tables[modelId] = new Table(CoherenceBinAccumulator.Resume(bins));
    }

    /// <summary>
    /// An image-caption agreement in [-1, 1] (a cosine) as a raw score on this table's scale: (a + 1) / 2 x
    /// <see cref="ScoreScale"/>, monotone, so equal-frequency bins of it are those of the agreement.
    /// </summary>
    public double AgreementScore(double agreement)
    {
        if (!double.IsFinite(agreement)) throw new ArgumentException($"agreement must be finite, got {agreement}");
        return (Math.Clamp(agreement, -1, 1) + 1) / 2 * ScoreScale;
    }

    Table TableOf(string modelId) => tables.GetOrAdd(modelId, _ => new Table(new CoherenceBinAccumulator(SampleSize, Bins, ScoreScale)));

    sealed class Table(CoherenceBinAccumulator accumulator)
    {
        private readonly object gate = new();
        private CoherenceBins? estimate;
        private int estimatedAt;

        public CoherenceBinAccumulator Accumulator { get; } = accumulator;

        /// <summary>
        /// The estimate from the scores so far, made again once the sample has grown by 1 % (sorting up to N
        /// scores for every batch would cost more than the scoring).
        /// </summary>
        public CoherenceBins Estimate()
        {
            lock (gate)
            {
                int n = Accumulator.Gathered;
                if (estimate is null || n - estimatedAt >= Math.Max(1, estimatedAt / 100))
                {
                    estimate = Accumulator.Provisional() ?? throw new InvalidOperationException("no scores gathered yet");
                    estimatedAt = n;
                }
                return estimate;
            }
        }
    }
}
