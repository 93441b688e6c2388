using System.Diagnostics;
using Akka.Actor;
using CadStream.Actors.Training;
using CadStream.Host.Cli;
using CadStream.Model.Training;
using Microsoft.Extensions.Logging.Abstractions;

/// <summary>
/// Training steps/s of the streaming trainer (TrainerWorker: inbox, replay buffer, batch assembly
/// from pairs, its own thread) next to the offline loop with the same model and batch, in one run.
/// </summary>
sealed class StreamingTrainerBench : ICommand
{
    public string Name => "stream-train";
    public string Summary => "Steps/s of the streaming trainer against the offline loop (the anchor), same model and batch.";
    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("width", "U-Net base channels", "32", ValueName: "C"),
        new("batch", "batch size", "64", ValueName: "B"),
        new("steps", "timed steps each", "30", ValueName: "N"),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        var device = Bench.Start();
        int width = a.Int("width", 8), batch = a.Int("batch", 1), steps = a.Int("steps", 1);
        var spec = Bench.Spec("bench", width) with { Batch = batch, SnapshotEverySteps = 1_000_000, SnapshotEverySeconds = 1e9, ReplaySize = 20_000 };
        int count = steps * batch + batch;
        var pairs = Bench.RandomPairs(count, spec);

        // Offline: the same steps through OfflineTraining.
        double offline;
        using (var trainer = new CadTrainer(spec, device))
        {
            OfflineTraining.Run(trainer, pairs, 3, batch, 0);
            var clock = Stopwatch.StartNew();
            OfflineTraining.Run(trainer, pairs, steps, batch, 0);
            offline = steps / clock.Elapsed.TotalSeconds;
        }

        // Streaming: all pairs are queued up front so the worker never waits for data.
        Exception? failure = null;
        using var worker = new TrainerWorker(spec, null, 0, device, 0, "bench", m => { if (m is TrainerWorker.Failed f) failure = f.Error; },
            NullLogger.Instance);
        for (int b = 0; b * 32 < count; b++)
            worker.TryPost(new TrainPairs(spec.Id, b, ActorRefs.Nobody, Bench.Scored(pairs, b * 32, Math.Min(32, count - b * 32))));
        worker.Start();
        while (worker.Status.Steps < 3) { if (failure is not null) throw failure; Thread.Sleep(5); }
        long start = worker.Status.Steps;
        var watch = Stopwatch.StartNew();
        while (worker.Status.Steps < start + steps)
        {
            if (failure is not null) throw failure;
            Thread.Sleep(2);
        }
        double streaming = steps / watch.Elapsed.TotalSeconds;
        Console.WriteLine($"model: width {width}, batch {batch}, {steps} timed steps each (streaming: replay fraction {spec.ReplayFraction})");
        Console.WriteLine($"offline_steps_per_second {offline:F2}");
        Console.WriteLine($"streaming_steps_per_second {streaming:F2}");
        Console.WriteLine($"streaming_over_offline {streaming / offline:F3}");
        return 0;
    }
}
