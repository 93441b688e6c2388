using CadStream.Catalog;
using CadStream.Data;

namespace CadStream.Scoring;

/// <summary>
/// Coherence of a Fashion-MNIST pair from the clean-label classifier: p(label | image), or
/// 1 - normalised entropy of its prediction. Knows only models of Fashion-MNIST's shape and classes.
/// </summary>
public sealed class ClassifierCoherenceModel(ClassifierCopy copy, ClassifierCoherence how) : ICoherenceModel
{
    public float[]? Score(ModelSpec model, IReadOnlyList<IPairToScore> pairs)
    {
        if (model.Channels != 1 || model.ImageSize != FashionMnist.Side || !model.Classes.SequenceEqual(FashionMnist.ClassNames)) return null;
        // Not made yet (the demo trains it in the background): the scorer gives c = 1, as without a classifier.
        if (copy.Get() is not { } classifier) return null;
        var probabilities = ClassifierTraining.Probabilities(classifier, pairs.Select(p => p.Pixels).ToArray());
        var coherence = new float[pairs.Count];
        int k = FashionClassifier.NumClasses;
        for (int j = 0; j < pairs.Count; j++)
        {
            var probs = probabilities.AsSpan(j * k, k);
            coherence[j] = how == ClassifierCoherence.Probability
                ? probs[pairs[j].Label ?? throw new ArgumentException($"pair {pairs[j].Id} of class model {model.Id} has no label")]
                : (float)(1 - FashionClassifier.NormalizedEntropy(probs));
        }
        return coherence;
    }

    public void Dispose() => copy.Dispose();
}
