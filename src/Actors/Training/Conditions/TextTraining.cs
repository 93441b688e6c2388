using CadStream.Actors.Scoring;
using CadStream.Catalog;
using CadStream.Catalog.Text;
using CadStream.Model;
using CadStream.Model.Training;
using static TorchSharp.torch;

namespace CadStream.Actors.Training.Conditions;

/// <summary>
/// A text model trains on its pairs' captions as token states: each batch is encoded ahead through the node's
/// encoder (cached, off the actor and the training thread), so a caption trains a model with the same numbers
/// here as in `cadstream train --condition text` (<see cref="TextEncoders.TokenStatesOf(ITextEncoder, IReadOnlyList{string})"/>).
/// </summary>
public sealed class TextTraining(ModelSpec spec, Func<ITextEncoder>? textEncoder) : ITrainingCondition
{
    /// <summary>A pair's caption, read through the encoder.</summary>
    public sealed record CaptionStates(TokenStates States) : PreparedCondition;

    public ConditionKind Kind => ConditionKind.Text;

    // A text model's pair keeps its label too (evaluation and lineage read it).
    public ScoredPair ForTrainer(PairToScore pair, float coherence) => new(pair.Id, pair.Pixels, pair.Label, coherence, pair.Caption);

    public bool NeedsPreparation => true;

    public PreparedCondition[] Prepare(TrainPairs batch) =>
        Encoder().TokenStatesOf(batch.Pairs.Select(p => p.Caption ?? "").ToArray()).Select(s => (PreparedCondition)new CaptionStates(s)).ToArray();

    public TrainerInputs Inputs()
    {
        var encoder = Encoder();
        return new TrainerInputs(encoder.Identity, encoder.TokenStatesOf(""));  // the classic modes' dropped caption
    }

    public TrainBatch Batch(Tensor images, float[] coherence, IReadOnlyList<ScoredPair> pairs, IReadOnlyList<PreparedCondition?> prepared, Device device)
    {
        var states = prepared.Select(p => p is CaptionStates c ? c.States
            : throw new InvalidOperationException($"trainer {spec.Id}: a text pair arrived without its caption's token states")).ToList();
        var (tokens, mask) = TokenTensors.Pad(states, device);
        return new TrainBatch(images, ClassTraining.Labels(pairs), coherence, tokens, mask);
    }

    ITextEncoder Encoder() => (textEncoder ?? throw new InvalidOperationException($"trainer {spec.Id}: a text model needs the node's text encoder"))();
}
