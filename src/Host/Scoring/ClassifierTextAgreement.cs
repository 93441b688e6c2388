using CadStream.Actors.Scoring;
using CadStream.Data;
using CadStream.Evaluation;
using CadStream.Model;
using CadStream.Text;
using static TorchSharp.torch;
using CadStream.Catalog;

namespace CadStream.Host.Scoring;

/// <summary>
/// The built-in image-caption agreement for Fashion-MNIST text models (<c>Scoring:TextAgreement</c> =
/// builtin): sum_k p(k | image) * cos(text(caption), text(description k)), p from the clean-label
/// classifier (this scorer's own copy: TorchSharp modules are not shared across threads) and the cosines
/// from the node's one text encoder (<see cref="CaptionAgreement"/>, thread-safe). Knows only models of
/// Fashion-MNIST's image shape, the classifier's input.
/// </summary>
public sealed class ClassifierTextAgreement(ClassifierCopy copy, CaptionAgreement agreement) : ITextAgreementModel
{
    public double[]? Agreement(ModelSpec model, IReadOnlyList<PairToScore> pairs)
    {
        if (model.Channels != 1 || model.ImageSize != FashionMnist.Side) return null;
        if (pairs.Any(p => p.Caption is null)) throw new ArgumentException("every pair of a text model needs a caption");
        if (pairs.Count == 0) return [];
        // Not made yet (the demo trains it in the background): the scorer gives c = 1, as without agreement.
        if (copy.Get() is not { } classifier) return null;
        return agreement.Score(pairs.Select(p => p.Caption!).ToArray(), Probabilities(classifier, pairs));
    }

    /// <summary>p(k | image) of each pair, row-major pairs x classes.</summary>
    static float[] Probabilities(FashionClassifier classifier, IReadOnlyList<PairToScore> pairs)
    {
        using var scope = NewDisposeScope();
        int size = FashionMnist.ImageBytes, k = FashionClassifier.NumClasses;
        var bytes = new byte[pairs.Count * size];
        for (int j = 0; j < pairs.Count; j++) Buffer.BlockCopy(pairs[j].Pixels, 0, bytes, j * size, size);
        var logits = ClassifierTraining.PredictLogits(classifier, ImageTensors.FromBytes(bytes, pairs.Count, 1, FashionMnist.Side, FashionMnist.Side));
        var probabilities = new float[pairs.Count * k];
        for (int j = 0; j < pairs.Count; j++) FashionClassifier.Softmax(logits.AsSpan(j * k, k)).CopyTo(probabilities, j * k);
        return probabilities;
    }

    public void Dispose() => copy.Dispose();
}
