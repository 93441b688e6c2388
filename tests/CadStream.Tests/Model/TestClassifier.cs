using CadStream.Data;
using CadStream.Evaluation;
using CadStream.Scoring;

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
}
