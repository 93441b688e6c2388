using System.Diagnostics;
using CadStream.Catalog;
using CadStream.Model;
using CadStream.Model.Networks;
using CadStream.Model.Training;
using CadStream.Scoring;
using static TorchSharp.torch;

namespace CadStream.Tests.Model.Training;

/// <summary>
/// A network's initial weights and its dropout masks are a function of its seed, whatever other threads do
/// with torch's process-wide generator meanwhile (docs/reproducibility.md).
/// </summary>
public class SeededInitialisationTests
{
    static byte[] Weights(nn.Module m) => CadSnapshot.ModuleBytes(m);

    [Fact]
    public void A_trainers_initial_weights_depend_on_its_seed_not_on_other_threads()
    {
        var spec = TestModels.Tiny() with { Seed = 5 };
        byte[] alone;
        using (var m = new CadDenoiser(spec)) alone = Weights(m);

        // Meanwhile another thread builds networks and classifiers of other seeds and steps a classifier with
        // dropout: every way CadStream uses torch's generators. Before the lock, 8 of 10 trainers built next to
        // a thread drawing from the global generator got other weights.
        using var stop = new CancellationTokenSource();
        int othersBuilt = 0;
        var busy = Task.Factory.StartNew(() =>
        {
            using var g = new Generator(1, CPU);
            for (int n = 0; !stop.IsCancellationRequested; n++)
            {
                using var other = new CadDenoiser(spec with { Seed = 100 + n });
                using var classifier = new FashionClassifier(n);
                classifier.train();
                using (var scope = NewDisposeScope()) classifier.call(rand([4, 1, 28, 28], generator: g));
                Interlocked.Increment(ref othersBuilt);
            }
        }, TaskCreationOptions.LongRunning);
        var deadline = Stopwatch.StartNew();
        while (Volatile.Read(ref othersBuilt) == 0 && deadline.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(10);
        int before = Volatile.Read(ref othersBuilt);
        for (int i = 0; i < 10; i++)
        {
            using var trainer = new CadTrainer(spec, TestModels.Cpu);
            Assert.Equal(alone, Weights(trainer.Model));
            Assert.Equal(alone, Weights(trainer.Ema));
        }
        int during = Volatile.Read(ref othersBuilt) - before;
        stop.Cancel();
        busy.Wait();
        Assert.True(before > 0 && during > 0, $"the other thread built {before} networks before and {during} while the trainers were built: they did not overlap");

        using var otherSeed = new CadDenoiser(spec with { Seed = 6 });
        Assert.NotEqual(alone, Weights(otherSeed));
    }

    [Fact]
    public void Dropout_masks_come_from_the_networks_own_generator() => TestModels.Pinned(() =>
    {
        var spec = TestModels.Tiny() with { Dropout = 0.3, Seed = 2 };
        byte[] Train(ModelSpec s, bool disturbed)
        {
            using var trainer = new CadTrainer(s, TestModels.Cpu);
            using var g = new Generator(4, CPU);
            // A thread drawing from torch's global generator (what nn.Dropout used) during the steps only:
            // the trainer was built under the lock, and its dropout must not read the global stream.
            using var stop = new CancellationTokenSource();
            var noise = disturbed ? Task.Factory.StartNew(() => { while (!stop.IsCancellationRequested) { using (randn(256)) Thread.Yield(); } }, TaskCreationOptions.LongRunning) : Task.CompletedTask;
            for (int step = 0; step < 3; step++)
            {
                var images = rand([8, 1, 28, 28], generator: g).Times(2).Minus(1);
                Assert.True(trainer.Step(new TrainBatch(images, Enumerable.Range(0, 8).Select(i => (long)(i % 10)).ToArray(), Enumerable.Repeat(1f, 8).ToArray())).Applied);
            }
            stop.Cancel();
            noise.Wait();
            return Weights(trainer.Model);
        }
        var first = Train(spec, disturbed: false);
        Assert.Equal(first, Train(spec, disturbed: true));
        // The masks act: without dropout the same steps end elsewhere.
        Assert.NotEqual(first, Train(spec with { Dropout = 0 }, disturbed: false));
    });
}
