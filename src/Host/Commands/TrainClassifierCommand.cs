using System.Diagnostics;
using CadStream.Data;
using CadStream.Host.Cli;
using CadStream.Runtime;
using CadStream.Scoring;

namespace CadStream.Host.Commands;

/// <summary>`cadstream train-classifier`: the clean-label classifier used for temperature noise, scoring and evaluation.</summary>
public sealed class TrainClassifierCommand : ICommand
{
    public string Name => "train-classifier";
    public string Summary => "Train the small CNN classifier on clean Fashion-MNIST labels and save it.";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("epochs", "passes over the 60k training images", "2", ValueName: "N"),
        new("batch", "batch size", "128", ValueName: "B"),
        new("lr", "learning rate (Adam)", "0.001", ValueName: "LR"),
        new("seed", "seed", "0", ValueName: "S"),
        new("limit", "use only the first N training images (quick runs)", ValueName: "N"),
        new("out", "classifier file to write", "classifier.bin", ValueName: "FILE"),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        int epochs = a.Int("epochs", 1, 1000);
        int batch = a.Int("batch", 1, 65536);
        double lr = a.Double("lr", 0, 1);
        int seed = a.Int("seed");
        var outPath = a.RequireString("out");
        TorchRuntime.Initialize();
        var train = FashionMnist.Load(train: true);
        if (a.Has("limit")) train = train.Slice(0, Math.Min(train.Count, a.Int("limit", 1)));
        var test = FashionMnist.Load(train: false);
        var line = new ProgressLine();
        var clock = Stopwatch.StartNew();
        var result = ClassifierTraining.Train(train, test, epochs, batch, lr, seed, msg => line.Update(msg));
        line.Finish($"trained in {clock.Elapsed.TotalSeconds:F0} s");
        result.Model.Save(outPath);
        Console.Error.WriteLine($"wrote {outPath}: test accuracy {result.TestAccuracy:P2} on {test.Count} clean test images");
        return 0;
    }
}
