using System.Diagnostics;
using Akka.Actor;
using CadStream.Actors.Training;
using CadStream.Model.Catalog;
using CadStream.Model.Snapshots;
using CadStream.Model.Training;
using static TorchSharp.torch;

/// <summary>
/// Training steps/s of the streaming trainer (TrainerLoop: inbox, replay buffer, batch assembly
/// from pairs, its own thread) next to the offline loop with the same model and batch, in one run.
/// </summary>
static class StreamingTrainerBench
{
    public static void Run(Device device, int width, int batch, int steps)
    {
        var rng = new Random(0);
        int count = steps * batch + batch;
        var pixels = new byte[count * 784];
        rng.NextBytes(pixels);
        var labels = Enumerable.Range(0, count).Select(i => i % 10).ToArray();
        var coherence = Enumerable.Range(0, count).Select(_ => (float)rng.NextDouble()).ToArray();
        var spec = new ModelSpec { Id = "bench", Width = width, Batch = batch, SnapshotEverySteps = 1_000_000, SnapshotEverySeconds = 1e9, ReplaySize = 20_000 };

        // Offline: the same steps through OfflineTraining.
        double offline;
        using (var trainer = new CadTrainer(spec.ToModelConfig(), new TrainerOptions(), device))
        {
            var pairs = new PairSet(pixels, count, 1, 28, 28, labels, coherence);
            OfflineTraining.Run(trainer, pairs, 3, batch, 0);
            var clock = Stopwatch.StartNew();
            OfflineTraining.Run(trainer, pairs, steps, batch, 0);
            offline = steps / clock.Elapsed.TotalSeconds;
        }

        // Streaming: all pairs are queued up front so the loop never waits for data.
        var folder = Directory.CreateTempSubdirectory("cadstream-bench-").FullName;
        try
        {
            var store = new FolderSnapshotStore(folder);
            using var loop = new TrainerLoop(spec, store, device, _ => { });
            for (int b = 0; b * 32 < count; b++)
            {
                var items = Enumerable.Range(b * 32, Math.Min(32, count - b * 32))
                    .Select(i => new ScoredPair(pixels.AsSpan(i * 784, 784).ToArray(), labels[i], coherence[i])).ToArray();
                loop.Enqueue(new TrainPairs(spec.Id, b, ActorRefs.Nobody, items));
            }
            loop.Start();
            while (loop.Status.Steps < 3) Thread.Sleep(5);
            long start = loop.Status.Steps;
            var clock = Stopwatch.StartNew();
            while (loop.Status.Steps < start + steps)
            {
                if (loop.Failure is { } e) throw e;
                Thread.Sleep(2);
            }
            double streaming = steps / clock.Elapsed.TotalSeconds;
            Console.WriteLine($"model: width {width}, batch {batch}, {steps} timed steps each (streaming: replay fraction {spec.ReplayFraction})");
            Console.WriteLine($"offline_steps_per_second {offline:F2}");
            Console.WriteLine($"streaming_steps_per_second {streaming:F2}");
            Console.WriteLine($"streaming_over_offline {streaming / offline:F3}");
            store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        finally { Directory.Delete(folder, true); }
    }
}
