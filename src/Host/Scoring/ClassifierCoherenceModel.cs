using CadStream.Actors.Scoring;
using CadStream.Data;
using CadStream.Evaluation;
using CadStream.Model;
using static TorchSharp.torch;
using CadStream.Catalog;

namespace CadStream.Host.Scoring;

/// <summary>
/// Coherence of a Fashion-MNIST pair from the clean-label classifier: p(label | image), or
/// 1 - normalised entropy of its prediction. Knows only models of Fashion-MNIST's shape and classes.
/// </summary>
public sealed class ClassifierCoherenceModel(ClassifierCopy copy, ClassifierCoherence how) : ICoherenceModel
{
    public float[]? Score(ModelSpec model, IReadOnlyList<PairToScore> pairs)
    {
        if (model.Channels != 1 || model.ImageSize != FashionMnist.Side || !model.Classes.SequenceEqual(FashionMnist.ClassNames)) return null;
        // Not made yet (the demo trains it in the background): the scorer gives c = 1, as without a classifier.
        if (copy.Get() is not { } classifier) return null;
        using var scope = NewDisposeScope();
        int size = FashionMnist.ImageBytes;
        var bytes = new byte[pairs.Count * size];
        for (int j = 0; j < pairs.Count; j++) Buffer.BlockCopy(pairs[j].Pixels, 0, bytes, j * size, size);
        var images = ImageTensors.FromBytes(bytes, pairs.Count, 1, FashionMnist.Side, FashionMnist.Side);
        var logits = ClassifierTraining.PredictLogits(classifier, images);
        var coherence = new float[pairs.Count];
        int k = FashionClassifier.NumClasses;
        for (int j = 0; j < pairs.Count; j++)
        {
            var probs = FashionClassifier.Softmax(logits.AsSpan(j * k, k));
            coherence[j] = how == ClassifierCoherence.Probability
                ? probs[pairs[j].Label ?? throw new ArgumentException($"pair {pairs[j].Id} of class model {model.Id} has no label")]
                : (float)(1 - FashionClassifier.NormalizedEntropy(probs));
        }
        return coherence;
    }

    public void Dispose() => copy.Dispose();
}
