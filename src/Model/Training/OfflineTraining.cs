using System.Diagnostics;
using CadStream.Catalog;

namespace CadStream.Model.Training;

public readonly record struct TrainingProgress(long Step, long TotalSteps, double Loss, double SmoothedLoss, double ImagesPerSecond, double EtaSeconds, long Skipped);

/// <summary>The offline loop: shuffled batches from a <see cref="PairSet"/> into a <see cref="CadTrainer"/>.</summary>
public static class OfflineTraining
{
    public static TrainingProgress Run(CadTrainer trainer, PairSet pairs, long steps, int batchSize, int seed,
        Action<TrainingProgress>? progress = null, CancellationToken cancel = default)
    {
        var sampler = new BatchSampler(pairs.Count, batchSize, seed);
        var clock = Stopwatch.StartNew();
        double smoothed = double.NaN, lastLoss = double.NaN;
        long images = 0, done = 0;
        long start = trainer.Steps;
        TrainingProgress report = default;
        while (done < steps && !cancel.IsCancellationRequested)
        {
            var indices = sampler.Next();
            var batch = pairs.Batch(indices, trainer.Device);
            StepResult result;
            using (batch) result = trainer.Step(batch);
            images += indices.Length;
            done++;
            if (double.IsFinite(result.Loss))
            {
                lastLoss = result.Loss;
                smoothed = double.IsNaN(smoothed) ? result.Loss : 0.98 * smoothed + 0.02 * result.Loss;
            }
            double seconds = clock.Elapsed.TotalSeconds;
            double rate = images / Math.Max(seconds, 1e-9);
            report = new TrainingProgress(trainer.Steps - start, steps, lastLoss, smoothed, rate,
                (steps - done) * seconds / done, trainer.SkippedSteps);
            progress?.Invoke(report);
        }
        return report;
    }
}
