using Akka.Actor;
using CadStream.Actors.Training;
using CadStream.Model;
using CadStream.Records.Coherence;
using CadStream.Catalog;

namespace CadStream.Actors.Scoring;

/// <summary>
/// A pair before scoring, as ingress hands it on (no Kafka types: it may cross nodes). It carries the
/// conditions of the kinds of models it goes to: <paramref name="Label"/> for class models,
/// <paramref name="Caption"/> for text models.
/// </summary>
public sealed record PairToScore(string Id, string[] ModelIds, int? Label, float? Coherence, double? Score, byte[] Pixels, string? Caption = null) : IClusterMessage;

/// <summary>A batch to score; the scored pairs go to each model's trainer with the same batch id.</summary>
public sealed record ScorePairs(long BatchId, IActorRef AckTo, IReadOnlyList<PairToScore> Pairs) : IClusterMessage;

/// <summary>
/// Where the coherence of a class pair that carries neither a coherence nor a raw score comes from: a
/// model of image-label agreement (the clean-label classifier for Fashion-MNIST). One instance per
/// scorer actor, used from that actor only.
/// </summary>
public interface ICoherenceModel : IDisposable
{
    /// <summary>Coherence in [0, 1] of each pair for <paramref name="model"/>, or null when this model of agreement does not know it.</summary>
    float[]? Score(ModelSpec model, IReadOnlyList<PairToScore> pairs);
}

/// <summary>
/// Where the raw score of a text pair that carries neither a coherence nor a score comes from: a model of
/// image-caption agreement (<c>Scoring:TextAgreement</c>: the built-in classifier-and-text-encoder one, or
/// later a user's image-text model such as an ONNX CLIP). Its agreement is binned like any raw score, by
/// the model's <see cref="CoherenceTables"/> table. One instance per scorer actor, used from that actor only.
/// </summary>
public interface ITextAgreementModel : IDisposable
{
    /// <summary>
    /// Agreement in [-1, 1] (a cosine: 1 = the caption says what the image shows) of each pair's image and
    /// caption for <paramref name="model"/>, or null when this model of agreement does not know it.
    /// </summary>
    double[]? Agreement(ModelSpec model, IReadOnlyList<PairToScore> pairs);
}

public sealed record ScoringOptions
{
    /// <summary>Clean-label classifier file; without one, class pairs with no coherence and no score get c = 1 (the method's default).</summary>
    public string? Classifier { get; init; }
    public ClassifierCoherence ClassifierCoherence { get; init; } = ClassifierCoherence.Probability;
    /// <summary>K: equal-frequency bins a raw score is binned into, c = (bin - 1) / (K - 1).</summary>
    public int ScoreBins { get; init; } = CoherenceBins.DefaultCount;
    /// <summary>N: a model's bin edges come from the first N raw scores of its stream, then stay frozen.</summary>
    public int ScoreBinSamples { get; init; } = CoherenceBinAccumulator.DefaultSampleSize;
    /// <summary>Raw scores are divided by this before binning: 100 for CLIP scores (cosine x 100); scores outside [0, scale] go to the end bins.</summary>
    public double ScoreScale { get; init; } = 100;
    /// <summary>
    /// Image-caption agreement for text pairs with neither coherence nor score: <see cref="BuiltinTextAgreement"/>
    /// (the clean-label classifier of <see cref="Classifier"/> with the frozen text encoder), <see cref="NoTextAgreement"/>
    /// (c = 1), or the path of a user's ONNX image-text model (not supported yet: refused at start).
    /// </summary>
    public string TextAgreement { get; init; } = BuiltinTextAgreement;
    public int PoolSize { get; init; } = 2;

    public const string BuiltinTextAgreement = "builtin";
    public const string NoTextAgreement = "none";

    /// <summary>Throws <see cref="ArgumentException"/> naming the setting that is wrong.</summary>
    public void Validate()
    {
        if (ScoreBins < 2) throw new ArgumentException($"Scoring:ScoreBins must be at least 2 (got {ScoreBins})");
        if (ScoreBinSamples < 1) throw new ArgumentException($"Scoring:ScoreBinSamples must be at least 1 (got {ScoreBinSamples})");
        if (!double.IsFinite(ScoreScale) || ScoreScale <= 0) throw new ArgumentException($"Scoring:ScoreScale must be a positive number (got {ScoreScale})");
        if (PoolSize < 1) throw new ArgumentException($"Scoring:PoolSize must be at least 1 (got {PoolSize})");
        if (TextAgreementProblem() is { } problem) throw new ArgumentException(problem);
    }

    /// <summary>
    /// Why <see cref="TextAgreement"/> cannot be used, or null: only the built-in agreement and none are
    /// available; a user's own image-text model (an ONNX CLIP) plugs in behind <see cref="ITextAgreementModel"/>
    /// but has no loader yet.
    /// </summary>
    public string? TextAgreementProblem()
    {
        var setting = (TextAgreement ?? "").Trim();
        if (setting.Length == 0 || setting.Equals(BuiltinTextAgreement, StringComparison.OrdinalIgnoreCase) || setting.Equals(NoTextAgreement, StringComparison.OrdinalIgnoreCase))
            return null;
        return $"Scoring:TextAgreement '{setting}': a user's image-text model (an ONNX CLIP, say) is not supported yet; " +
               $"use \"{BuiltinTextAgreement}\" (the clean-label classifier with the text encoder), \"{NoTextAgreement}\" (c = 1), " +
               "or send each pair's own 'score' or 'coherence'";
    }
}

/// <summary>How a class pair with neither coherence nor score is scored by the classifier.</summary>
public enum ClassifierCoherence { Probability, Entropy }

/// <summary>What the scorers of a node work with: the models, their shared bin tables, and the factories of each scorer's models of agreement.</summary>
/// <param name="CoherenceModels">Makes a scorer's model of image-label agreement (null: none).</param>
/// <param name="TextAgreementModels">Makes a scorer's model of image-caption agreement (null: none).</param>
public sealed record ScorerServices(
    ModelCatalog Catalog,
    CoherenceTables Tables,
    Func<ICoherenceModel?> CoherenceModels,
    Func<ITextAgreementModel?> TextAgreementModels);

/// <summary>
/// Attaches a coherence to each pair, per model it goes to: a provided coherence as is; a raw score
/// binned by the model's table (shared by the node's scorers, frozen after its first N scores); for a
/// pair with neither, a model of agreement, for the whole batch at once: a class model's coherence model
/// (a coherence in [0, 1]), a text model's image-caption agreement (binned like a raw score);
/// otherwise 1. Each model's trainer gets the pair with its own kind's condition.
/// </summary>
public sealed class ScorerActor : ReceiveActor
{
    private readonly ScorerServices services;
    private readonly ICoherenceModel? coherenceModel;
    private readonly ITextAgreementModel? textAgreement;

    public ScorerActor(ScorerServices services, IActorRef trainers)
    {
        this.services = services;
        coherenceModel = services.CoherenceModels();
        textAgreement = services.TextAgreementModels();
        Receive<ScorePairs>(m =>
        {
            foreach (var group in Enumerable.Range(0, m.Pairs.Count).SelectMany(i => m.Pairs[i].ModelIds.Select(id => (id, i))).GroupBy(x => x.id))
            {
                var pairs = group.Select(x => m.Pairs[x.i]).ToArray();
                services.Catalog.TryGet(group.Key, out var spec);
                var (coherence, table) = Score(spec, group.Key, pairs);
                // A class model's trainer needs no caption: leaving it out keeps the batches small.
                bool text = spec?.Kind == ConditionKind.Text;
                var scored = pairs.Select((p, j) => new ScoredPair(p.Id, p.Pixels, p.Label, coherence[j], text ? p.Caption : null)).ToArray();
                foreach (var c in coherence) TrainerMetrics.Coherence.WithLabels(group.Key).Observe(c);
                trainers.Tell(new TrainPairs(group.Key, m.BatchId, m.AckTo, scored, table));
            }
        });
    }

    /// <summary>The coherence of each pair for one model, and the bin table that gave those that came from raw scores (null if none did).</summary>
    (float[] Coherence, CoherenceBins? Table) Score(ModelSpec? spec, string modelId, PairToScore[] pairs)
    {
        var coherence = new float[pairs.Length];
        var scored = new List<int>();
        var scores = new List<double>();
        var unknown = new List<int>();
        for (int i = 0; i < pairs.Length; i++)
        {
            var p = pairs[i];
            if (p.Coherence is float c) coherence[i] = c;
            else if (p.Score is double s)
            {
                scored.Add(i);
                scores.Add(s);
            }
            else unknown.Add(i);
        }
        if (unknown.Count > 0)
        {
            var ofUnknown = unknown.Select(i => pairs[i]).ToArray();
            if (spec?.Kind == ConditionKind.Text)
            {
                // Agreement is a raw score: it is binned with the record scores, by the same table.
                var agreement = textAgreement?.Agreement(spec, ofUnknown);
                for (int j = 0; j < unknown.Count; j++)
                {
                    if (agreement is null || !double.IsFinite(agreement[j])) coherence[unknown[j]] = 1f;
                    else
                    {
                        scored.Add(unknown[j]);
                        scores.Add(services.Tables.AgreementScore(agreement[j]));
                    }
                }
            }
            else
            {
                var agreed = spec is not null && coherenceModel is not null ? coherenceModel.Score(spec, ofUnknown) : null;
                for (int j = 0; j < unknown.Count; j++) coherence[unknown[j]] = agreed?[j] ?? 1f;
            }
        }
        if (scored.Count == 0) return (coherence, null);
        var (binned, table) = services.Tables.Bin(modelId, scores);
        for (int j = 0; j < scored.Count; j++) coherence[scored[j]] = binned[j];
        return (coherence, table);
    }

    protected override void PostStop()
    {
        coherenceModel?.Dispose();
        textAgreement?.Dispose();
        base.PostStop();
    }

    public static Props PropsFor(ScorerServices services, IActorRef trainers) => Props.Create(() => new ScorerActor(services, trainers));
}
