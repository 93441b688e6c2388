using CadStream.Actors.Scoring;
using CadStream.Catalog;
using CadStream.Catalog.Text;
using CadStream.Model.Training;
using static TorchSharp.torch;

namespace CadStream.Actors.Training.Conditions;

/// <summary>What one pair brings to a training batch besides its image and coherence, as its kind prepared it ahead.</summary>
public abstract record PreparedCondition;

/// <summary>What a trainer of a model is built with besides its spec: a text model's encoder identity and empty caption.</summary>
public sealed record TrainerInputs(string? TextEncoder = null, TokenStates? EmptyCaption = null);

/// <summary>
/// One condition kind on the training side of the cluster: the pair a scorer hands this kind's trainer, the work a
/// batch needs before training (off the actor and the training thread), what the trainer is built with, and the
/// training batch. One implementation per kind, chosen by <see cref="TrainingConditions.For"/>; the trainer entity
/// and its worker never look at the kind.
/// </summary>
public interface ITrainingCondition
{
    ConditionKind Kind { get; }

    /// <summary>The pair as this kind's trainer needs it, with its coherence.</summary>
    ScoredPair ForTrainer(PairToScore pair, float coherence);

    /// <summary>Whether a batch must be prepared (<see cref="Prepare"/>) before the worker takes it.</summary>
    bool NeedsPreparation { get; }

    /// <summary>Each pair's prepared condition, in order. Slow (a text encoder): call it off the actor and the training thread.</summary>
    PreparedCondition[] Prepare(TrainPairs batch);

    /// <summary>What the trainer is built with; may load the node's text encoder, so call it off the actor.</summary>
    TrainerInputs Inputs();

    /// <summary>The training batch of these pairs (images already on the device).</summary>
    TrainBatch Batch(Tensor images, float[] coherence, IReadOnlyList<ScoredPair> pairs, IReadOnlyList<PreparedCondition?> prepared, Device device);
}

/// <summary>The one place the training side picks a kind's unit.</summary>
public static class TrainingConditions
{
    /// <param name="textEncoder">The node's text encoder (loaded on first use); null where none runs (a text model cannot train there).</param>
    public static ITrainingCondition For(ModelSpec spec, Func<ITextEncoder>? textEncoder = null) => spec.Kind switch
    {
        ConditionKind.Class => new ClassTraining(),
        ConditionKind.Text => new TextTraining(spec, textEncoder),
        var kind => throw new NotSupportedException(ConditionKinds.NotAvailable(kind)),
    };
}
