using System.Diagnostics;
using CadStream.Model;
using CadStream.Model.Networks;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Model.Training;
using Xunit.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace CadStream.Tests.Model;

/// <summary>
/// The native lifetime of what a forward or training step makes on the way (TorchSharp Scalars, temporary
/// tensors): a value the garbage collector may free while libtorch still reads it shows up as
/// "Expected false to be true ... toFloat" or as garbage numbers. Here sampling runs on several threads and a
/// training step on another while one more thread forces full collections and finalizers without pause, so an
/// unheld value is freed mid-call often instead of once an hour.
/// </summary>
[Collection(Name)]
[Trait("Category", "Numeric")]
public class NativeLifetimeStressTests(ITestOutputHelper output)
{
    /// <summary>Runs alone: its forced collections would end other tests' no-GC regions and slow them down.</summary>
    public const string Name = "forced collections";

    // CAD_STRESS_SECONDS runs it longer by hand (the counts in docs/architecture.md came from runs of 15 and 30 s).
    static readonly TimeSpan Duration = TimeSpan.FromSeconds(double.Parse(Environment.GetEnvironmentVariable("CAD_STRESS_SECONDS") ?? "5"));

    [Fact]
    public void Sampling_and_training_stay_finite_while_the_gc_finalizes_without_pause()
    {
        var device = TestModels.Cpu;
        var spec = TestModels.Tiny();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        long samples = 0, steps = 0, collections = 0;
        using var stop = new CancellationTokenSource();

        var samplers = Enumerable.Range(0, 3).Select(k => new Thread(() =>
        {
            using var model = new CadDenoiser(spec);
            model.eval();
            var pipeline = new CadPipeline(model, device);
            // Guided rows take the second branch too, so every step runs both halves of the arithmetic.
            SampleRequest[] requests = [new(k, 2, 1.0, 2.0, Seed: k), new(9 - k, 2, 0.5, 0.0, Seed: 10 + k)];
            var settings = new SamplerSettings(3, k == 0 ? SamplerKind.DpmPlusPlus : SamplerKind.Ddim);
            // The same requests give the same images (each has its own seed): a freed value that libtorch read
            // after it was reused shows as a repeat that differs, not only as an error.
            float[]? first = null;
            while (!stop.IsCancellationRequested)
                Record(() =>
                {
                    var images = pipeline.Sample(requests, settings);
                    float[] values;
                    try { values = images.SelectMany(i => i.data<float>().ToArray()).ToArray(); }
                    finally { foreach (var image in images) image.Dispose(); }
                    if (values.Any(v => !float.IsFinite(v))) failures.Enqueue("a sample is not finite");
                    else if (first is null) first = values;
                    else if (first.Zip(values, (a, b) => Math.Abs(a - b)).Max() is var worst && worst > 1e-4f)
                        failures.Enqueue($"a repeat of the same requests differs by up to {worst}");
                    Interlocked.Increment(ref samples);
                });
        }) { IsBackground = true, Name = $"stress-sampler-{k}" }).ToList();

        var trainer = new Thread(() =>
        {
            using var cad = new CadTrainer(spec with { WarmupSteps = 1 }, device);
            using var generator = new Generator(5, CPU);
            var labels = new long[] { 0, 3, 5, 9 };
            var coherence = new[] { 1f, 0.5f, 0.2f, 0.9f };
            using var two = 2.ToScalar();
            using var one = 1.ToScalar();
            while (!stop.IsCancellationRequested)
                Record(() =>
                {
                    using var images = rand([4, 1, 28, 28], generator: generator).mul_(two).sub_(one);
                    var result = cad.Step(new TrainBatch(images, labels, coherence));
                    if (!result.Applied) failures.Enqueue($"a training step was skipped: {result.SkipReason} (loss {result.Loss})");
                    Interlocked.Increment(ref steps);
                });
        }) { IsBackground = true, Name = "stress-trainer" };

        // Young-generation collections: short, so the finalizers run while a native call that began before the
        // collection may still be reading; thousands a second.
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect(0, GCCollectionMode.Forced, blocking: true);
                GC.WaitForPendingFinalizers();
                Interlocked.Increment(ref collections);
            }
        }) { IsBackground = true, Name = "stress-gc" };

        void Record(Action work)
        {
            try { work(); }
            catch (Exception e) { failures.Enqueue($"{e.GetType().Name}: {e.Message.Split('\n')[0]}"); }
        }

        var clock = Stopwatch.StartNew();
        var threads = samplers.Append(trainer).Append(collector).ToList();
        threads.ForEach(t => t.Start());
        // The whole time, not up to the first failure: the count says how often it happens. TorchSharp's methods must
        // first reach optimised (tier 1) code, which reports a Scalar dead right after its handle is read.
        while (clock.Elapsed < Duration) Thread.Sleep(50);
        stop.Cancel();
        foreach (var t in threads)
            Assert.True(t.Join(TimeSpan.FromSeconds(60)), $"{t.Name} did not finish its last step within a minute");

        output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: {samples} sampling calls, {steps} training steps, {collections} forced collections, {failures.Count} failures");
        foreach (var f in failures.Take(10)) output.WriteLine(f);
        Assert.True(samples > 0 && steps > 0 && collections > 0, $"the stress did not run: {samples} samples, {steps} steps, {collections} collections");
        Assert.True(failures.IsEmpty, $"{failures.Count} failures in {samples} sampling calls and {steps} training steps, first: {failures.FirstOrDefault()}");
    }
}

[CollectionDefinition(NativeLifetimeStressTests.Name, DisableParallelization = true)]
public sealed class ForcedCollections;
