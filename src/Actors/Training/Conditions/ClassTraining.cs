using CadStream.Actors.Scoring;
using CadStream.Catalog;
using CadStream.Model.Training;
using static TorchSharp.torch;

namespace CadStream.Actors.Training.Conditions;

/// <summary>A class model trains on the label its pairs carry: nothing to prepare, and no caption to carry.</summary>
public sealed class ClassTraining : ITrainingCondition
{
    public ConditionKind Kind => ConditionKind.Class;

    // A class model's trainer needs no caption: leaving it out keeps the batches small.
    public ScoredPair ForTrainer(PairToScore pair, float coherence) => new(pair.Id, pair.Pixels, pair.Label, coherence);

    public bool NeedsPreparation => false;

    public PreparedCondition[] Prepare(TrainPairs batch) => new PreparedCondition[batch.Pairs.Count];

    public TrainerInputs Inputs() => new();

    public TrainBatch Batch(Tensor images, float[] coherence, IReadOnlyList<ScoredPair> pairs, IReadOnlyList<PreparedCondition?> prepared, Device device) =>
        new(images, Labels(pairs), coherence);

    /// <summary>The pairs' labels (0 where a pair has none: a text model's pairs may carry none, and read captions instead).</summary>
    internal static long[] Labels(IReadOnlyList<ScoredPair> pairs) => pairs.Select(p => (long)(p.Label ?? 0)).ToArray();
}
