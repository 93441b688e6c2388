using Akka.Actor;
using Akka.Event;
using CadStream.Actors.Training;
using CadStream.Model.Catalog;
using CadStream.Model.Data;
using static TorchSharp.torch;

namespace CadStream.Actors.Scoring;

/// <summary>A pair before scoring, as ingress hands it on (no Kafka types: it may cross nodes).</summary>
public sealed record PairToScore(string Id, string[] ModelIds, int Label, float? Coherence, double? Score, byte[] Pixels);

/// <summary>A batch to score; the scored pairs go to each model's trainer with the same batch id.</summary>
public sealed record ScorePairs(long BatchId, IActorRef AckTo, IReadOnlyList<PairToScore> Pairs);

/// <summary>How a class pair with neither coherence nor score is scored by the classifier.</summary>
public enum ClassifierCoherence { Probability, Entropy }

public sealed record ScoringOptions
{
    /// <summary>Clean-label classifier file; without one, pairs with no coherence and no score get c = 1 (the method's default).</summary>
    public string? Classifier { get; init; }
    public ClassifierCoherence ClassifierCoherence { get; init; } = ClassifierCoherence.Probability;
    public int ScoreBins { get; init; } = 8;
    public int PoolSize { get; init; } = 2;
}

/// <summary>
/// Attaches a coherence to each pair: a provided coherence as is; a raw score binned into K
/// equal-frequency bins of the running quantiles (c = bin / (K - 1)); otherwise the classifier's
/// p(label | image) or 1 - normalised entropy, computed for the whole batch at once.
/// </summary>
public sealed class ScorerActor : ReceiveActor
{
    private readonly ILoggingAdapter log = Context.GetLogger();
    private readonly Dictionary<string, QuantileBinner> binners = new();

    public ScorerActor(ScoringOptions options, IActorRef trainers)
    {
        // Each scorer loads its own classifier: TorchSharp modules are not shared across threads.
        var classifier = options.Classifier is null ? null : FashionClassifier.Load(options.Classifier);
        Receive<ScorePairs>(m =>
        {
            var coherence = new float[m.Pairs.Count];
            var needClassifier = new List<int>();
            for (int i = 0; i < m.Pairs.Count; i++)
            {
                var p = m.Pairs[i];
                if (p.Coherence is float c) coherence[i] = c;
                else if (p.Score is double s)
                {
                    var key = string.Join(',', p.ModelIds);
                    if (!binners.TryGetValue(key, out var b)) binners[key] = b = new QuantileBinner(options.ScoreBins);
                    coherence[i] = (float)b.Observe(s);
                }
                else if (classifier is not null) needClassifier.Add(i);
                else coherence[i] = 1f;
            }
            if (needClassifier.Count > 0) ScoreWithClassifier(classifier!, options.ClassifierCoherence, m.Pairs, needClassifier, coherence);

            foreach (var group in Enumerable.Range(0, m.Pairs.Count).SelectMany(i => m.Pairs[i].ModelIds.Select(id => (id, i))).GroupBy(x => x.id))
            {
                var scored = group.Select(x => new ScoredPair(m.Pairs[x.i].Pixels, m.Pairs[x.i].Label, coherence[x.i])).ToArray();
                foreach (var s in scored) TrainerMetrics.Coherence.WithLabels(group.Key).Observe(s.Coherence);
                trainers.Tell(new TrainPairs(group.Key, m.BatchId, m.AckTo, scored));
            }
        });
    }

    static void ScoreWithClassifier(FashionClassifier classifier, ClassifierCoherence how, IReadOnlyList<PairToScore> pairs, List<int> which, float[] coherence)
    {
        using var scope = NewDisposeScope();
        var bytes = new byte[which.Count * 784];
        for (int j = 0; j < which.Count; j++) Buffer.BlockCopy(pairs[which[j]].Pixels, 0, bytes, j * 784, 784);
        var images = CadStream.Model.Imaging.ImageGrid.FromBytes(bytes, which.Count, 1, 28, 28);
        var logits = ClassifierTraining.PredictLogits(classifier, images);
        for (int j = 0; j < which.Count; j++)
        {
            var probs = FashionClassifier.Softmax(logits.AsSpan(j * 10, 10));
            coherence[which[j]] = how == ClassifierCoherence.Probability
                ? probs[pairs[which[j]].Label]
                : (float)(1 - FashionClassifier.NormalizedEntropy(probs));
        }
    }

    public static Props PropsFor(ScoringOptions options, IActorRef trainers) =>
        Props.Create(() => new ScorerActor(options, trainers));
}
