using Akka.Actor;
using CadStream.Actors.Training;
using CadStream.Actors.Training.Conditions;
using CadStream.Catalog;
using CadStream.Records.Coherence;
using CadStream.Scoring;
using CadStream.Scoring.Conditions;

namespace CadStream.Actors.Scoring;

/// <summary>
/// A pair before scoring, as ingress hands it on (no Kafka types: it may cross nodes). It carries the
/// conditions of the kinds of models it goes to: <paramref name="Label"/> for class models,
/// <paramref name="Caption"/> for text models.
/// </summary>
public sealed record PairToScore(string Id, string[] ModelIds, int? Label, float? Coherence, double? Score, byte[] Pixels, string? Caption = null)
    : IClusterMessage, IPairToScore;

/// <summary>A batch to score; the scored pairs go to each model's trainer with the same batch id.</summary>
public sealed record ScorePairs(long BatchId, IActorRef AckTo, IReadOnlyList<PairToScore> Pairs) : IClusterMessage;

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
    private readonly ConditionScorers scorers;

    public ScorerActor(ScorerServices services, IActorRef trainers)
    {
        this.services = services;
        scorers = new ConditionScorers(services.CoherenceModels(), services.TextAgreementModels(), services.Tables);
        Receive<ScorePairs>(m =>
        {
            foreach (var group in Enumerable.Range(0, m.Pairs.Count).SelectMany(i => m.Pairs[i].ModelIds.Select(id => (id, i))).GroupBy(x => x.id))
            {
                var pairs = group.Select(x => m.Pairs[x.i]).ToArray();
                services.Catalog.TryGet(group.Key, out var spec);
                var (coherence, table) = Score(spec, group.Key, pairs);
                // Each model's trainer gets the pair as its kind needs it (a model not configured here: its label only).
                var training = spec is null ? null : TrainingConditions.For(spec);
                var scored = pairs.Select((p, j) => training?.ForTrainer(p, coherence[j]) ?? new ScoredPair(p.Id, p.Pixels, p.Label, coherence[j])).ToArray();
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
            // The kind's unit: a coherence as it is, or a raw score binned with the record scores by the same table.
            var outcomes = spec is null ? null : scorers.For(spec.Kind).Score(spec, unknown.Select(i => pairs[i]).ToArray());
            for (int j = 0; j < unknown.Count; j++)
            {
                var outcome = outcomes?[j] ?? ScoreOutcome.None;
                if (outcome.Coherence is float c) coherence[unknown[j]] = c;
                else if (outcome.RawScore is double s)
                {
                    scored.Add(unknown[j]);
                    scores.Add(s);
                }
                else coherence[unknown[j]] = 1f;
            }
        }
        if (scored.Count == 0) return (coherence, null);
        var (binned, table) = services.Tables.Bin(modelId, scores);
        for (int j = 0; j < scored.Count; j++) coherence[scored[j]] = binned[j];
        return (coherence, table);
    }

    protected override void PostStop()
    {
        scorers.Dispose();
        base.PostStop();
    }

    public static Props PropsFor(ScorerServices services, IActorRef trainers) => Props.Create(() => new ScorerActor(services, trainers));
}
