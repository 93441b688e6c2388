using CadStream.Catalog;
using CadStream.Catalog.Judging;
using CadStream.Data;
using CadStream.Model;
using static TorchSharp.torch;

namespace CadStream.Scoring;

/// <summary>
/// Live sample quality for Fashion-MNIST models: the share of generated images the clean-label
/// classifier assigns to the class they were asked for. Knows only models of Fashion-MNIST's shape
/// and classes. While the classifier is still being made it says so (<see cref="State"/>) and judges nothing.
/// </summary>
public sealed class ClassifierSampleJudge(ClassifierSource source) : ISampleJudge, IDisposable
{
    private readonly object gate = new();
    private readonly ClassifierCopy classifier = new(source);

    public JudgeState State => source.State;

    public double? Accuracy(ModelSpec model, byte[] pixels, int count, IReadOnlyList<int> labels)
    {
        if (model.Channels != 1 || model.ImageSize != FashionMnist.Side || !model.Classes.SequenceEqual(FashionMnist.ClassNames)) return null;
        if (count == 0) return null;
        lock (gate)
        {
            if (classifier.Get() is not { } c) return null;
            using var scope = NewDisposeScope();
            var images = ImageTensors.FromBytes(pixels, count, 1, FashionMnist.Side, FashionMnist.Side);
            return ClassifierTraining.Accuracy(c, images, labels.Take(count).ToArray());
        }
    }

    public void Dispose()
    {
        lock (gate) classifier.Dispose();
    }
}
