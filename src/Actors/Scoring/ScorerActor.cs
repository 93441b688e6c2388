using Akka.Actor;
using CadStream.Actors.Training;
using CadStream.Model;

namespace CadStream.Actors.Scoring;

/// <summary>A pair before scoring, as ingress hands it on (no Kafka types: it may cross nodes).</summary>
public sealed record PairToScore(string Id, string[] ModelIds, int Label, float? Coherence, double? Score, byte[] Pixels) : IClusterMessage;

/// <summary>A batch to score; the scored pairs go to each model's trainer with the same batch id.</summary>
public sealed record ScorePairs(long BatchId, IActorRef AckTo, IReadOnlyList<PairToScore> Pairs) : IClusterMessage;

/// <summary>
/// Where the coherence of a pair that carries neither a coherence nor a raw score comes from: a model
/// of image-condition agreement (the clean-label classifier for Fashion-MNIST; a user's own, say an
/// ONNX CLIP). One instance per scorer actor, used from that actor only.
/// </summary>
public interface ICoherenceModel : IDisposable
{
    /// <summary>Coherence in [0, 1] of each pair for <paramref name="model"/>, or null when this model of agreement does not know it.</summary>
    float[]? Score(ModelSpec model, IReadOnlyList<PairToScore> pairs);
}

public sealed record ScoringOptions
{
    /// <summary>Clean-label classifier file; without one, pairs with no coherence and no score get c = 1 (the method's default).</summary>
    public string? Classifier { get; init; }
    public ClassifierCoherence ClassifierCoherence { get; init; } = ClassifierCoherence.Probability;
    public int ScoreBins { get; init; } = 8;
    public int PoolSize { get; init; } = 2;
}

/// <summary>How a class pair with neither coherence nor score is scored by the classifier.</summary>
public enum ClassifierCoherence { Probability, Entropy }

/// <summary>
/// Attaches a coherence to each pair: a provided coherence as is; a raw score binned into K
/// equal-frequency bins of the running quantiles (c = bin / (K - 1)); otherwise the coherence model's
/// agreement, for the whole batch at once; otherwise 1.
/// </summary>
public sealed class ScorerActor : ReceiveActor
{
    private readonly Dictionary<string, QuantileBinner> binners = new();
    private readonly ICoherenceModel? coherenceModel;

    public ScorerActor(ScoringOptions options, ModelCatalog catalog, Func<ICoherenceModel?> coherenceModels, IActorRef trainers)
    {
        coherenceModel = coherenceModels();
        Receive<ScorePairs>(m =>
        {
            foreach (var group in Enumerable.Range(0, m.Pairs.Count).SelectMany(i => m.Pairs[i].ModelIds.Select(id => (id, i))).GroupBy(x => x.id))
            {
                var pairs = group.Select(x => m.Pairs[x.i]).ToArray();
                var coherence = Score(options, catalog, group.Key, pairs);
                var scored = pairs.Select((p, j) => new ScoredPair(p.Id, p.Pixels, p.Label, coherence[j])).ToArray();
                foreach (var c in coherence) TrainerMetrics.Coherence.WithLabels(group.Key).Observe(c);
                trainers.Tell(new TrainPairs(group.Key, m.BatchId, m.AckTo, scored));
            }
        });
    }

    float[] Score(ScoringOptions options, ModelCatalog catalog, string modelId, PairToScore[] pairs)
    {
        var coherence = new float[pairs.Length];
        var unknown = new List<int>();
        for (int i = 0; i < pairs.Length; i++)
        {
            var p = pairs[i];
            if (p.Coherence is float c) coherence[i] = c;
            else if (p.Score is double s)
            {
                if (!binners.TryGetValue(modelId, out var b)) binners[modelId] = b = new QuantileBinner(options.ScoreBins);
                coherence[i] = (float)b.Observe(s);
            }
            else unknown.Add(i);
        }
        if (unknown.Count == 0) return coherence;
        float[]? agreed = null;
        if (coherenceModel is not null && catalog.TryGet(modelId, out var spec))
            agreed = coherenceModel.Score(spec, unknown.Select(i => pairs[i]).ToArray());
        for (int j = 0; j < unknown.Count; j++) coherence[unknown[j]] = agreed?[j] ?? 1f;
        return coherence;
    }

    protected override void PostStop()
    {
        coherenceModel?.Dispose();
        base.PostStop();
    }

    public static Props PropsFor(ScoringOptions options, ModelCatalog catalog, Func<ICoherenceModel?> coherenceModels, IActorRef trainers) =>
        Props.Create(() => new ScorerActor(options, catalog, coherenceModels, trainers));
}
