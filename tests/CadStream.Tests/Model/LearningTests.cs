using CadStream.Model;
using CadStream.Data;
using CadStream.Evaluation;
using CadStream.Model.Training;

namespace CadStream.Tests.Model;

public class LearningTests
{
    [Fact]
    public void Loss_goes_down_on_real_fashion_mnist()
    {
        var data = FashionMnist.Load(train: true).Slice(0, 2048);
        var noisy = LabelNoise.Entropy(data.Labels, 10, seed: 1);
        var pairs = new PairSet(data.Pixels, data.Count, 1, 28, 28, noisy.Labels, noisy.Coherence);
        var config = TestModels.Tiny() with { Classes = FashionMnist.ClassNames.ToArray(), PaddedSize = 32, LearningRate = 2e-3, WarmupSteps = 10, Seed = 1 };
        using var trainer = new CadTrainer(config, TestModels.Cpu);
        var losses = new List<double>();
        OfflineTraining.Run(trainer, pairs, steps: 80, batchSize: 32, seed: 1, p => losses.Add(p.Loss));
        double first = losses.Take(10).Average(), last = losses.TakeLast(10).Average();
        // An untrained epsilon predictor outputs ~0, so its loss is E[eps^2] = 1.
        Assert.InRange(first, 0.6, 1.2);
        Assert.True(last < 0.6 * first, $"loss went from {first:F3} to {last:F3}");
        Assert.Equal(0, trainer.SkippedSteps);
    }
}
