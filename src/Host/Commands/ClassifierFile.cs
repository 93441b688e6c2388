using CadStream.Data;
using CadStream.Host.Cli;
using CadStream.Scoring;

namespace CadStream.Host.Commands;

/// <summary>Loads the classifier a command was given, or trains one when none was named.</summary>
public static class ClassifierFile
{
    public static FashionClassifier LoadOrTrain(string? path, string trainInto)
    {
        if (path is not null)
        {
            if (!File.Exists(path)) throw new UsageException($"classifier file '{path}' does not exist (make one with: cadstream train-classifier --out {path})");
            return FashionClassifier.Load(path);
        }
        if (File.Exists(trainInto))
        {
            Console.Error.WriteLine($"classifier: using {trainInto}");
            return FashionClassifier.Load(trainInto);
        }
        Console.Error.WriteLine($"classifier: none given (--classifier), training one on clean labels (2 epochs) into {trainInto}");
        var line = new ProgressLine();
        var result = ClassifierTraining.Train(FashionMnist.Load(true), FashionMnist.Load(false), 2, 128, 1e-3, 0, msg => line.Update(msg));
        line.Finish($"classifier: test accuracy {result.TestAccuracy:P2}, trained in {result.TrainTime.TotalSeconds:F0} s");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(trainInto))!);
        result.Model.Save(trainInto);
        return result.Model;
    }

    /// <summary>The logits the temperature noise needs, from the classifier file (null when none is named).</summary>
    public static Func<FashionMnist, float[]>? Logits(string? path) => path is null ? null : images =>
    {
        using var classifier = FashionClassifier.Load(path);
        return ClassifierTraining.PredictLogits(classifier, images);
    };
}
