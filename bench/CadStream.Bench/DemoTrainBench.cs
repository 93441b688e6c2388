using System.Diagnostics;
using Akka.Actor;
using CadStream.Actors;
using CadStream.Actors.Training;
using CadStream.Catalog;
using CadStream.Host.Cli;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

/// <summary>
/// The demo's training on this machine: two streaming trainers (fashion-cad and fashion-baseline)
/// side by side in one process, each on its own thread, at a given number of libtorch threads per
/// trainer; next to one trainer alone with every core (the anchor) in the same run.
/// </summary>
sealed class DemoTrainBench : ICommand
{
    public string Name => "demo-train";
    public string Summary => "Steps/s of the demo's two trainers side by side, against one trainer alone (the anchor).";
    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("width", "U-Net base channels", "32", ValueName: "C"),
        new("batch", "batch size", "64", ValueName: "B"),
        new("seconds", "timed seconds per run", "20", ValueName: "S"),
        new("threads", "libtorch threads per trainer (0 = as a node picks them)", "0", ValueName: "N"),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        var device = Bench.Start();
        int width = a.Int("width", 8), batch = a.Int("batch", 1), seconds = a.Int("seconds", 1), threads = a.Int("threads", 0);
        double alone = Measure(device, width, batch, seconds, [("alone", TrainingMode.Cad)], 0)[0];
        var pairThreads = new NodeSettings { TrainerThreads = threads }.ThreadsPerTrainer(2);  // as a node with two models picks it
        var sideBySide = Measure(device, width, batch, seconds, [("fashion-cad", TrainingMode.Cad), ("fashion-baseline", TrainingMode.Baseline)], pairThreads);
        var shared = Measure(device, width, batch, seconds, [("fashion-cad", TrainingMode.Cad), ("fashion-baseline", TrainingMode.Baseline)], 0);
        Console.WriteLine($"model: width {width}, batch {batch}, {seconds} s timed per run, {Environment.ProcessorCount} cores");
        Console.WriteLine($"alone_steps_per_second {alone:F2}");
        Console.WriteLine($"pair_threads_each {pairThreads}");
        Console.WriteLine($"pair_steps_per_second {sideBySide[0]:F2} {sideBySide[1]:F2} (sum {sideBySide.Sum():F2}, {sideBySide.Sum() / alone:F3} of alone)");
        Console.WriteLine($"pair_default_threads_steps_per_second {shared[0]:F2} {shared[1]:F2} (sum {shared.Sum():F2}, {shared.Sum() / alone:F3} of alone)");
        return 0;
    }

    static double[] Measure(Device device, int width, int batch, int seconds, (string Id, TrainingMode Mode)[] models, int threads)
    {
        const int count = 4096;
        var workers = new List<TrainerWorker>();
        Exception? failure = null;
        try
        {
            foreach (var (id, mode) in models)
            {
                var spec = Bench.Spec(id, width) with { Mode = mode, Batch = batch, SnapshotEverySteps = 1_000_000, SnapshotEverySeconds = 1e9, ReplaySize = count };
                var pairs = Bench.RandomPairs(count, spec);
                var worker = new TrainerWorker(spec, null, 0, device, threads, "bench", m => { if (m is TrainerWorker.Failed f) failure = f.Error; },
                    NullLogger.Instance);
                // Enough pairs that the worker never waits: replay keeps stepping once fresh ones are used.
                for (int b = 0; b < count / 32; b++)
                    worker.TryPost(new TrainPairs(id, b, ActorRefs.Nobody, Bench.Scored(pairs, b * 32, 32)));
                worker.Start();
                workers.Add(worker);
            }
            while (workers.Any(w => w.Status.Steps < 3)) { if (failure is not null) throw failure; Thread.Sleep(5); }
            var start = workers.Select(w => w.Status.Steps).ToArray();
            var clock = Stopwatch.StartNew();
            Thread.Sleep(TimeSpan.FromSeconds(seconds));
            var rates = workers.Select((w, i) => (w.Status.Steps - start[i]) / clock.Elapsed.TotalSeconds).ToArray();
            if (failure is not null) throw failure;
            return rates;
        }
        finally
        {
            foreach (var w in workers) w.Dispose();
        }
    }
}
