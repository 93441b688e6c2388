using System.Collections.Concurrent;
using System.Diagnostics;
using CadStream.Model.Catalog;
using CadStream.Model.Imaging;
using CadStream.Model.Snapshots;
using CadStream.Model.Training;
using static TorchSharp.torch;

namespace CadStream.Actors.Training;

/// <summary>
/// The training side of a trainer entity, on one dedicated thread that owns the TorchSharp model
/// (dispose scopes and grad mode are per thread). It resumes from the newest stored snapshot,
/// buffers incoming pairs (bounded replay), steps while fresh pairs arrive, and stores a
/// snapshot every N steps or T seconds; then it reports which batches that snapshot reflects.
/// </summary>
public sealed class TrainerLoop : IDisposable
{
    private sealed record Item(ScoredPair Pair, long BatchId);

    private readonly ModelSpec spec;
    private readonly ISnapshotStore store;
    private readonly Action<BatchesDurable> onDurable;
    private readonly Action<string>? log;
    private readonly Device device;
    private readonly int threads;
    private readonly ConcurrentQueue<TrainPairs> inbox = new();
    private readonly AutoResetEvent signal = new(false);
    private readonly CancellationTokenSource stop = new();
    private readonly Thread thread;
    // Batches whose pairs have all been trained on since the last snapshot, and pairs left per open batch.
    private readonly List<long> trainedBatches = [];
    private readonly Dictionary<long, int> remaining = new();
    private volatile TrainerStatus status;
    private volatile Exception? failure;

    /// <param name="node">Which node trains (its cluster address), for status; default the machine name.</param>
    /// <param name="threads">libtorch threads of this loop's thread (0 = libtorch's default).</param>
    public TrainerLoop(ModelSpec spec, ISnapshotStore store, Device device, Action<BatchesDurable> onDurable, Action<string>? log = null,
        string? node = null, int threads = 0)
    {
        this.threads = threads;
        this.spec = spec;
        this.store = store;
        this.device = device;
        this.onDurable = onDurable;
        this.log = log;
        status = new TrainerStatus(spec.Id, 0, 0, 0, double.NaN, 0, 0, 0, node ?? Environment.MachineName);
        thread = new Thread(Run) { IsBackground = true, Name = $"trainer-{spec.Id}" };
    }

    public TrainerStatus Status => status;
    public Exception? Failure => failure;
    public bool Ready { get; private set; }

    public void Start() => thread.Start();

    public void Enqueue(TrainPairs batch)
    {
        inbox.Enqueue(batch);
        signal.Set();
    }

    private void Run()
    {
        try
        {
            // OpenMP's thread count is per calling thread: this sets this trainer's team only.
            if (threads > 0 && device.type == TorchSharp.DeviceType.CPU) set_num_threads(threads);
            using var trainer = Resume();
            Ready = true;
            Loop(trainer);
            // A graceful stop (hand-off, shutdown) stores what was trained so nothing is redone.
            if (trainedBatches.Count > 0 || StepsSinceSnapshot > 0)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                Snapshot(trainer, "stopping", timeout.Token);
            }
        }
        catch (Exception e)
        {
            failure = e;
            log?.Invoke($"trainer {spec.Id} failed: {e.GetType().Name}: {e.Message}");
        }
    }

    private long lastSnapshotSteps;
    private long version;
    private long StepsSinceSnapshot => status.Steps - lastSnapshotSteps;

    private CadTrainer Resume()
    {
        var options = new TrainerOptions
        {
            LearningRate = spec.LearningRate,
            EmaDecay = spec.EmaDecay,
            WarmupSteps = spec.WarmupSteps,
            Seed = spec.Seed,
        };
        var latest = store.GetLatestAsync(spec.Id, stop.Token).GetAwaiter().GetResult();
        CadTrainer trainer;
        if (latest is null)
        {
            trainer = new CadTrainer(spec.ToModelConfig(), options, device);
            log?.Invoke($"trainer {spec.Id}: new model, {trainer.Model.ParameterCount() / 1e6:F2}M parameters");
        }
        else
        {
            var bytes = store.FetchAsync(spec.Id, latest.Version, stop.Token).GetAwaiter().GetResult();
            trainer = CadTrainer.FromSnapshot(CadSnapshot.FromBytes(bytes), options, device);
            version = latest.Version;
            log?.Invoke($"trainer {spec.Id}: resumed from snapshot {latest.Version} at step {trainer.Steps}, {trainer.SamplesSeen} samples");
        }
        lastSnapshotSteps = trainer.Steps;
        TrainerMetrics.SnapshotVersion.WithLabels(spec.Id).Set(version);
        status = status with { Steps = trainer.Steps, SamplesSeen = trainer.SamplesSeen, SkippedSteps = trainer.SkippedSteps, SnapshotVersion = version };
        return trainer;
    }

    private void Loop(CadTrainer trainer)
    {
        var buffer = new ReplayBuffer<Item>(spec.ReplaySize, spec.Seed);
        var lastSnapshot = Stopwatch.StartNew();
        double smoothed = double.NaN;
        while (!stop.IsCancellationRequested)
        {
            while (inbox.TryDequeue(out var incoming))
            {
                remaining[incoming.BatchId] = remaining.GetValueOrDefault(incoming.BatchId) + incoming.Pairs.Count;
                foreach (var p in incoming.Pairs) buffer.Add(new Item(p, incoming.BatchId));
                if (incoming.Pairs.Count == 0) trainedBatches.Add(incoming.BatchId);
            }

            bool due = StepsSinceSnapshot >= spec.SnapshotEverySteps
                       || (lastSnapshot.Elapsed.TotalSeconds >= spec.SnapshotEverySeconds && (StepsSinceSnapshot > 0 || trainedBatches.Count > 0));
            if (due)
            {
                if (Snapshot(trainer, "interval")) lastSnapshot.Restart();
                else lastSnapshot.Restart();  // retry after another interval rather than spin
            }

            var items = buffer.NextBatch(spec.Batch, spec.ReplayFraction, out int freshTaken);
            if (items is null)
            {
                status = status with { BufferedPairs = buffer.Count, FreshPairs = 0 };
                signal.WaitOne(TimeSpan.FromMilliseconds(200));
                continue;
            }

            var clock = Stopwatch.StartNew();
            // One copy: the pairs' pixels into a contiguous buffer, straight into the batch tensor.
            int size = items[0].Pair.Pixels.Length;
            var pixels = new byte[items.Count * size];
            for (int i = 0; i < items.Count; i++) Buffer.BlockCopy(items[i].Pair.Pixels, 0, pixels, i * size, size);
            var (c, h, w) = spec.ImageShape;
            var batch = new TrainBatch(ImageGrid.FromBytes(pixels, items.Count, c, h, w, device),
                items.Select(x => (long)x.Pair.Label).ToArray(), items.Select(x => x.Pair.Coherence).ToArray());
            StepResult result;
            using (batch.Images) result = trainer.Step(batch);
            TrainerMetrics.StepSeconds.WithLabels(spec.Id).Observe(clock.Elapsed.TotalSeconds);
            if (result.Applied) TrainerMetrics.Steps.WithLabels(spec.Id).Inc();
            if (double.IsFinite(result.Loss))
            {
                smoothed = double.IsNaN(smoothed) ? result.Loss : 0.95 * smoothed + 0.05 * result.Loss;
                TrainerMetrics.Loss.WithLabels(spec.Id).Set(smoothed);
            }

            // Fresh pairs are the batch's tail; a source batch is trained once its last pair was.
            foreach (var item in items.Skip(items.Count - freshTaken))
            {
                if (!remaining.TryGetValue(item.BatchId, out var left)) continue;
                if (left <= 1) { remaining.Remove(item.BatchId); trainedBatches.Add(item.BatchId); }
                else remaining[item.BatchId] = left - 1;
            }
            TrainerMetrics.Samples.WithLabels(spec.Id).Inc(freshTaken);
            status = status with
            {
                Steps = trainer.Steps, SamplesSeen = trainer.SamplesSeen, SkippedSteps = trainer.SkippedSteps, Loss = smoothed,
                BufferedPairs = buffer.Count, FreshPairs = buffer.FreshCount,
            };
        }
    }

    private bool Snapshot(CadTrainer trainer, string why) => Snapshot(trainer, why, stop.Token);

    private bool Snapshot(CadTrainer trainer, string why, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            long next = version + 1;
            var bytes = trainer.ToSnapshot(next, includeTrainingState: true).ToBytes();
            store.PublishAsync(spec.Id, bytes, next, trainer.Steps, trainer.SamplesSeen, cancel).GetAwaiter().GetResult();
            version = next;
            lastSnapshotSteps = trainer.Steps;
            TrainerMetrics.PublishSeconds.WithLabels(spec.Id).Observe(clock.Elapsed.TotalSeconds);
            TrainerMetrics.SnapshotVersion.WithLabels(spec.Id).Set(version);
            status = status with { SnapshotVersion = version };
            if (trainedBatches.Count > 0)
            {
                onDurable(new BatchesDurable(spec.Id, trainedBatches.ToArray(), version));
                trainedBatches.Clear();
            }
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            log?.Invoke($"trainer {spec.Id}: snapshot ({why}) failed, will retry: {e.Message}");
            return false;
        }
    }

    public void Dispose()
    {
        stop.Cancel();
        signal.Set();
        if (thread.IsAlive) thread.Join(TimeSpan.FromSeconds(30));
        signal.Dispose();
        stop.Dispose();
    }
}
