using System.Diagnostics;
using Akka.Actor;
using CadStream.Actors;
using CadStream.Actors.Training;
using CadStream.Model.Catalog;
using CadStream.Model.Snapshots;
using static TorchSharp.torch;

/// <summary>
/// The demo's training on this machine: two streaming trainers (fashion-cad and fashion-baseline)
/// side by side in one process, each on its own thread, at a given number of libtorch threads per
/// trainer; next to one trainer alone with every core (the anchor) in the same run.
/// </summary>
static class DemoTrainBench
{
    public static void Run(Device device, int width, int batch, int seconds, int threads)
    {
        double alone = Measure(device, width, batch, seconds, [("alone", "cad")], 0)[0];
        var pairThreads = new NodeSettings { TrainerThreads = threads }.ThreadsPerTrainer(2);  // as a node with two models picks it
        var sideBySide = Measure(device, width, batch, seconds, [("fashion-cad", "cad"), ("fashion-baseline", "baseline")], pairThreads);
        var shared = Measure(device, width, batch, seconds, [("fashion-cad", "cad"), ("fashion-baseline", "baseline")], 0);
        Console.WriteLine($"model: width {width}, batch {batch}, {seconds} s timed per run, {Environment.ProcessorCount} cores");
        Console.WriteLine($"alone_steps_per_second {alone:F2}");
        Console.WriteLine($"pair_threads_each {pairThreads}");
        Console.WriteLine($"pair_steps_per_second {sideBySide[0]:F2} {sideBySide[1]:F2} (sum {sideBySide.Sum():F2}, {sideBySide.Sum() / alone:F3} of alone)");
        Console.WriteLine($"pair_default_threads_steps_per_second {shared[0]:F2} {shared[1]:F2} (sum {shared.Sum():F2}, {shared.Sum() / alone:F3} of alone)");
    }

    static double[] Measure(Device device, int width, int batch, int seconds, (string Id, string Mode)[] models, int threads)
    {
        var rng = new Random(0);
        const int count = 4096;
        var pixels = new byte[count * 784];
        rng.NextBytes(pixels);
        var folder = Directory.CreateTempSubdirectory("cadstream-bench-").FullName;
        var loops = new List<TrainerLoop>();
        try
        {
            var store = new FolderSnapshotStore(folder);
            foreach (var (id, mode) in models)
            {
                var spec = new ModelSpec { Id = id, Mode = mode, Width = width, Batch = batch, SnapshotEverySteps = 1_000_000, SnapshotEverySeconds = 1e9, ReplaySize = count };
                var loop = new TrainerLoop(spec, store, device, _ => { }, threads: threads);
                // Enough pairs that the loop never waits: replay keeps stepping once fresh ones are used.
                for (int b = 0; b < count / 32; b++)
                    loop.Enqueue(new TrainPairs(id, b, ActorRefs.Nobody, Enumerable.Range(b * 32, 32)
                        .Select(i => new ScoredPair(pixels.AsSpan(i * 784, 784).ToArray(), i % 10, (float)rng.NextDouble())).ToArray()));
                loop.Start();
                loops.Add(loop);
            }
            while (loops.Any(l => l.Status.Steps < 3)) { Fail(loops); Thread.Sleep(5); }
            var start = loops.Select(l => l.Status.Steps).ToArray();
            var clock = Stopwatch.StartNew();
            Thread.Sleep(TimeSpan.FromSeconds(seconds));
            var rates = loops.Select((l, i) => (l.Status.Steps - start[i]) / clock.Elapsed.TotalSeconds).ToArray();
            Fail(loops);
            return rates;
        }
        finally
        {
            foreach (var l in loops) l.Dispose();
            Directory.Delete(folder, true);
        }
    }

    static void Fail(IEnumerable<TrainerLoop> loops)
    {
        foreach (var l in loops) if (l.Failure is { } e) throw e;
    }
}
