using CadStream.Data;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Scoring;
using TorchSharp;

namespace CadStream.Tests.Model;

/// <summary>
/// A clean-label Fashion-MNIST classifier good enough to tell classes apart (trained once per test run,
/// in seconds, on a slice of the clean labels), saved to a file as a node's configuration names it.
/// </summary>
public static class TestClassifier
{
    static readonly Lazy<string> Trained = new(() =>
    {
        var path = Path.Combine(Path.GetTempPath(), "cadstream-tests", $"classifier-{Environment.ProcessId}.bin");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        _ = TestModels.Cpu;
        // The same weights in every run (its seed, its own dropout generator, a fixed thread count): the
        // figures of the tests that judge samples with it depend on it.
        using var model = TestModels.Pinned(() => ClassifierTraining.Train(FashionMnist.Load(train: true).Slice(0, 3000), FashionMnist.Load(train: false).Slice(0, 500),
            epochs: 1, batch: 64, seed: 1).Model);
        model.Save(path);
        return path;
    });

    public static string File => Trained.Value;

    /// <summary>
    /// The labels and coherence of the coherence-dependence tests: every other pair trusted (its own label, c = 1), the
    /// others a random class of <paramref name="classes"/> at c = 0, drawn from a fixed seed.
    /// </summary>
    public static (int[] Labels, float[] Coherence) HalfTrusted(FashionMnist data, int[] classes)
    {
        var random = new Random(3);
        var labels = new int[data.Count];
        var coherence = new float[data.Count];
        for (int j = 0; j < data.Count; j++)
        {
            bool trusted = j % 2 == 0;
            labels[j] = trusted ? data.Labels[j] : classes[random.Next(classes.Length)];
            coherence[j] = trusted ? 1f : 0f;
        }
        return (labels, coherence);
    }

    /// <summary>Samples the requests (20 DDIM steps) and returns the share of images the classifier assigns to the class each asked for.</summary>
    public static double Agreement(FashionClassifier classifier, CadPipeline pipeline, IReadOnlyList<SampleRequest> requests)
    {
        var images = pipeline.Sample(requests, new SamplerSettings(20));
        using var batch = torch.cat(images, 0);
        foreach (var t in images) t.Dispose();
        return ClassifierTraining.Accuracy(classifier, batch, requests.SelectMany(r => Enumerable.Repeat(r.Label, r.Count)).ToArray());
    }
}
