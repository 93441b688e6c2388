using CadStream.Catalog;
using CadStream.Data;

namespace CadStream.Scoring;

/// <summary>
/// The built-in image-caption agreement for Fashion-MNIST text models (<c>Scoring:TextAgreement</c> =
/// builtin): sum_k p(k | image) * cos(text(caption), text(description k)), p from the clean-label
/// classifier (this scorer's own copy: TorchSharp modules are not shared across threads) and the cosines
/// from the node's one text encoder (<see cref="CaptionAgreement"/>, thread-safe). Knows only models of
/// Fashion-MNIST's image shape, the classifier's input.
/// </summary>
public sealed class ClassifierTextAgreement(ClassifierCopy copy, CaptionAgreement agreement) : ITextAgreementModel
{
    public double[]? Agreement(ModelSpec model, IReadOnlyList<IPairToScore> pairs)
    {
        if (model.Channels != 1 || model.ImageSize != FashionMnist.Side) return null;
        if (pairs.Any(p => p.Caption is null)) throw new ArgumentException("every pair of a text model needs a caption");
        if (pairs.Count == 0) return [];
        // Not made yet (the demo trains it in the background): the scorer gives c = 1, as without agreement.
        if (copy.Get() is not { } classifier) return null;
        return agreement.Score(pairs.Select(p => p.Caption!).ToArray(), ClassifierTraining.Probabilities(classifier, pairs.Select(p => p.Pixels).ToArray()));
    }

    public void Dispose() => copy.Dispose();
}
