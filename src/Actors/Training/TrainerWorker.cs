using System.Diagnostics;
using CadStream.Actors.Training.Conditions;
using CadStream.Catalog;
using CadStream.Model;
using CadStream.Model.Training;
using CadStream.Runtime;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace CadStream.Actors.Training;

/// <summary>
/// The training side of a trainer entity, on its own <see cref="TorchWorker{T}"/> thread, which owns
/// the TorchSharp model. It resumes from the snapshot bytes it is given, buffers incoming pairs
/// (bounded replay), steps while fresh pairs arrive, and every N steps or T seconds serialises a
/// snapshot and hands it to its owner to store (<see cref="SnapshotReady"/>): storing is I/O and
/// happens off this thread, so a slow or absent store never stalls training. One snapshot is in
/// flight at a time; the owner answers with <see cref="PublishOutcome"/>. After a failed store the
/// next attempt waits a back-off (1 s doubling to 30 s, so a store that comes back is used again within half a minute), not the whole interval, and carries a new
/// version: next = max(the store's latest, the last one tried) + 1.
/// </summary>
public sealed class TrainerWorker : IDisposable
{
    /// <summary>Snapshot bytes to store as <paramref name="Version"/>; they reflect <paramref name="BatchIds"/>.</summary>
    /// <param name="PairIds">The ids of the pairs trained since the last stored snapshot (empty unless pairs are traced).</param>
    public sealed record SnapshotReady(long Version, byte[] Bytes, long Steps, long Samples, long[] BatchIds, string[] PairIds,
        double SerializeSeconds, bool Final);
    /// <summary>The worker built its model (new or resumed) and trains from now on.</summary>
    public sealed record Started(long Steps);
    /// <summary>The worker finished on request with nothing left to store.</summary>
    public sealed record Stopped;
    /// <summary>The worker's thread ended with an error; it does nothing more.</summary>
    public sealed record Failed(Exception Error);
    /// <summary>
    /// From the owner: whether the snapshot of <paramref name="Version"/> was stored; when not, the store's latest
    /// version if known (0 otherwise). The next snapshot is numbered above both: a version is never used twice.
    /// </summary>
    public sealed record PublishOutcome(long Version, bool Stored, long StoreLatest = 0);

    /// <summary>A batch with what its kind prepared for each pair ahead, off the training thread (null when the kind prepares nothing).</summary>
    public sealed record PreparedPairs(TrainPairs Pairs, PreparedCondition[]? Conditions);

    private sealed record Item(ScoredPair Pair, long BatchId, PreparedCondition? Prepared);

    private readonly ModelSpec spec;
    private readonly byte[]? resumeBytes;
    private readonly long resumeVersion, storeLatest;
    private readonly bool tracePairs;
    private readonly ITrainingCondition condition;
    private readonly TrainerInputs inputs;
    private readonly Device device;
    private readonly Action<object> tellOwner;
    private readonly ILogger logger;
    private readonly TorchWorker<object> worker;
    private volatile TrainerStatus status;

    /// <param name="resumeBytes">The snapshot to resume from (stored as <paramref name="resumeVersion"/>), or null for a new model.</param>
    /// <param name="tellOwner">Where <see cref="SnapshotReady"/>, <see cref="Stopped"/> and <see cref="Failed"/> go (called on the worker's thread).</param>
    /// <param name="storeLatest">The store's latest version when it is above <paramref name="resumeVersion"/> (a latest that did not verify): snapshots are numbered above it.</param>
    public TrainerWorker(ModelSpec spec, byte[]? resumeBytes, long resumeVersion, Device device, int threads, string node,
        Action<object> tellOwner, ILogger logger, long storeLatest = 0, bool tracePairs = false, TrainerInputs? inputs = null)
    {
        condition = TrainingConditions.For(spec);
        this.inputs = inputs ?? new TrainerInputs();
        this.tracePairs = tracePairs;
        this.storeLatest = Math.Max(storeLatest, resumeVersion);
        this.spec = spec;
        this.resumeBytes = resumeBytes;
        this.resumeVersion = resumeVersion;
        this.device = device;
        this.tellOwner = tellOwner;
        this.logger = logger;
        status = new TrainerStatus(spec.Id, 0, 0, 0, double.NaN, resumeVersion, 0, 0, node);
        // Far more than the pairs in flight upstream (the consumer's bound): a full queue means a bug, not load.
        worker = new TorchWorker<object>($"trainer-{spec.Id}", capacity: 100_000, threads);
    }

    public TrainerStatus Status => status;
    public Task Completion => worker.Completion;

    public void Start() => worker.Start(Run, e => tellOwner(new Failed(e)));

    /// <summary>A batch its kind need not prepare (a class model's).</summary>
    public bool TryPost(TrainPairs pairs) => worker.TryPost(new PreparedPairs(pairs, null));
    public bool TryPost(PreparedPairs pairs) => worker.TryPost(pairs);
    public bool TryPost(PublishOutcome outcome) => worker.TryPost(outcome);

    /// <summary>Asks the worker to store what it trained since the last snapshot (a final <see cref="SnapshotReady"/>) and end.</summary>
    public void RequestStop() => worker.RequestStop();

    public void Dispose() => worker.Dispose();

    private void Run(TorchWorker<object>.Inbox inbox)
    {
        CadTrainer trainer;
        if (resumeBytes is null) trainer = new CadTrainer(spec, device, inputs.EmptyCaption) { TextEncoder = inputs.TextEncoder };
        else
        {
            var snapshot = CadSnapshot.FromBytes(resumeBytes);
            // A text model learned its conditioning from one encoder's token states; another encoder's mean nothing to it.
            snapshot.RequireEncoder(inputs.TextEncoder);
            trainer = CadTrainer.FromSnapshot(snapshot, device, spec, inputs.EmptyCaption);
        }
        using var owned = trainer;
        if (resumeBytes is null)
            logger.LogInformation("trainer {Model}: new model, {Parameters:F2}M parameters", spec.Id, trainer.Model.ParameterCount() / 1e6);
        else
            logger.LogInformation("trainer {Model}: resumed from snapshot v{Version} at step {Steps}, {Samples} samples",
                spec.Id, resumeVersion, trainer.Steps, trainer.SamplesSeen);
        tellOwner(new Started(trainer.Steps));
        new Loop(this, trainer).Run(inbox);
    }

    /// <summary>The state of one run of the loop; lives on the worker's thread only.</summary>
    private sealed class Loop(TrainerWorker owner, CadTrainer trainer)
    {
        private readonly ModelSpec spec = owner.spec;
        private readonly ReplayBuffer<Item> buffer = new(owner.spec.ReplaySize, owner.spec.Seed);
        // Batches whose pairs have all been trained on since the last stored snapshot, and pairs left per open batch.
        private readonly List<long> trainedBatches = [];
        private readonly List<string> trainedPairs = [];
        private readonly Dictionary<long, int> remaining = new();
        private readonly Stopwatch sinceSnapshot = Stopwatch.StartNew();
        private readonly CoherenceWindow recent = new(2048);
        // The last version stored (what status shows) and the last one tried (stored or not): never reused.
        private long version = owner.resumeVersion, lastTried = owner.storeLatest, storedSteps = trainer.Steps;
        private int failures;
        private SnapshotReady? inFlight;
        private double smoothed = double.NaN;

        public void Run(TorchWorker<object>.Inbox inbox)
        {
            Publish();
            while (true)
            {
                bool stopping = inbox.Stopping;
                Take(inbox);
                if (stopping) break;
                if (inFlight is null && Due()) Offer(final: false);
                if (!StepOnce()) inbox.Wait(TimeSpan.FromMilliseconds(200));
            }
            Finish(inbox);
        }

        /// <summary>A graceful stop (hand-off, shutdown) stores what was trained, so nothing is redone.</summary>
        private void Finish(TorchWorker<object>.Inbox inbox)
        {
            var deadline = Stopwatch.StartNew();
            while (inFlight is not null && deadline.Elapsed < TimeSpan.FromSeconds(30))
            {
                inbox.WaitForItem(TimeSpan.FromMilliseconds(200));
                Take(inbox);
            }
            if (inFlight is null && (trainedBatches.Count > 0 || trainer.Steps > storedSteps)) Offer(final: true);
            else owner.tellOwner(new Stopped());
        }

        private bool Due()
        {
            long since = trainer.Steps - storedSteps;
            if (failures > 0)  // retry with back-off, whatever the interval says
                return sinceSnapshot.Elapsed.TotalSeconds >= Math.Min(30, Math.Pow(2, failures - 1)) && (since > 0 || trainedBatches.Count > 0);
            return since >= spec.SnapshotEverySteps
                   || (sinceSnapshot.Elapsed.TotalSeconds >= spec.SnapshotEverySeconds && (since > 0 || trainedBatches.Count > 0));
        }

        private void Take(TorchWorker<object>.Inbox inbox)
        {
            foreach (var message in inbox.TakeAll())
                switch (message)
                {
                    case PreparedPairs incoming:
                        Add(incoming.Pairs, incoming.Conditions);
                        break;
                    case PublishOutcome outcome when inFlight is not null && outcome.Version == inFlight.Version:
                        lastTried = Math.Max(lastTried, Math.Max(inFlight.Version, outcome.StoreLatest));
                        if (outcome.Stored)
                        {
                            version = inFlight.Version;
                            storedSteps = inFlight.Steps;
                            failures = 0;
                        }
                        else
                        {
                            trainedBatches.InsertRange(0, inFlight.BatchIds);  // they go into the next snapshot
                            trainedPairs.InsertRange(0, inFlight.PairIds);
                            failures++;
                        }
                        inFlight = null;
                        sinceSnapshot.Restart();
                        Publish();
                        break;
                }
        }

        private void Add(TrainPairs incoming, PreparedCondition[]? prepared)
        {
            if (owner.condition.NeedsPreparation && prepared is null) throw new InvalidOperationException($"trainer {spec.Id}: a batch arrived unprepared");
            remaining[incoming.BatchId] = remaining.GetValueOrDefault(incoming.BatchId) + incoming.Pairs.Count;
            for (int i = 0; i < incoming.Pairs.Count; i++)
            {
                var p = incoming.Pairs[i];
                buffer.Add(new Item(p, incoming.BatchId, prepared?[i]));
                recent.Add(p.Coherence);
            }
            if (incoming.Pairs.Count == 0) trainedBatches.Add(incoming.BatchId);
            // The table that gave score-derived coherences their meaning goes into every snapshot once frozen.
            if (incoming.Bins is { Version: >= 1 } bins) trainer.CoherenceBins = bins.ToJson();
        }

        private void Offer(bool final)
        {
            var clock = Stopwatch.StartNew();
            long next = lastTried + 1;
            var bytes = trainer.ToSnapshot(next, includeTrainingState: true).ToBytes();
            inFlight = new SnapshotReady(next, bytes, trainer.Steps, trainer.SamplesSeen, trainedBatches.ToArray(), trainedPairs.ToArray(),
                clock.Elapsed.TotalSeconds, final);
            trainedBatches.Clear();
            trainedPairs.Clear();
            owner.tellOwner(inFlight);
        }

        /// <summary>One training step if there are fresh pairs; false when there were none.</summary>
        private bool StepOnce()
        {
            var items = buffer.NextBatch(spec.Batch, spec.ReplayFraction, out int freshTaken);
            if (items is null)
            {
                Publish();
                return false;
            }
            var clock = Stopwatch.StartNew();
            // One copy: the pairs' pixels into a contiguous buffer, straight into the batch tensor.
            int size = spec.ImageBytes;
            var pixels = new byte[items.Count * size];
            for (int i = 0; i < items.Count; i++) Buffer.BlockCopy(items[i].Pair.Pixels, 0, pixels, i * size, size);
            var images = ImageTensors.FromBytes(pixels, items.Count, spec.Channels, spec.ImageSize, spec.ImageSize, owner.device);
            var coherence = items.Select(x => x.Pair.Coherence).ToArray();
            var batch = owner.condition.Batch(images, coherence, items.Select(x => x.Pair).ToList(), items.Select(x => x.Prepared).ToList(), owner.device);
            long skippedBefore = trainer.SkippedSteps;
            StepResult result;
            using (batch) result = trainer.Step(batch);
            TrainerMetrics.StepSeconds.WithLabels(spec.Id).Observe(clock.Elapsed.TotalSeconds);
            if (result.Applied) TrainerMetrics.Steps.WithLabels(spec.Id).Inc();
            if (trainer.SkippedSteps > skippedBefore)
            {
                TrainerMetrics.SkippedSteps.WithLabels(spec.Id).Inc(trainer.SkippedSteps - skippedBefore);
                owner.logger.LogWarning("trainer {Model}: step skipped ({Reason}); the weights are unchanged", spec.Id, result.SkipReason);
            }
            if (double.IsFinite(result.Loss))
            {
                smoothed = double.IsNaN(smoothed) ? result.Loss : 0.95 * smoothed + 0.05 * result.Loss;
                TrainerMetrics.Loss.WithLabels(spec.Id).Set(smoothed);
            }

            // Fresh pairs are the batch's tail; a source batch is trained once its last pair was.
            foreach (var item in items.Skip(items.Count - freshTaken))
            {
                if (owner.tracePairs) trainedPairs.Add(item.Pair.Id);
                if (!remaining.TryGetValue(item.BatchId, out var left)) continue;
                if (left <= 1) { remaining.Remove(item.BatchId); trainedBatches.Add(item.BatchId); }
                else remaining[item.BatchId] = left - 1;
            }
            TrainerMetrics.Samples.WithLabels(spec.Id).Inc(freshTaken);
            Publish();
            return true;
        }

        private void Publish() => owner.status = owner.status with
        {
            Steps = trainer.Steps, SamplesSeen = trainer.SamplesSeen, SkippedSteps = trainer.SkippedSteps, Loss = smoothed,
            SnapshotVersion = version, BufferedPairs = buffer.Count, FreshPairs = buffer.FreshCount, CoherenceCounts = recent.Counts(),
        };
    }
}

/// <summary>The coherence of the last N pairs, counted in ten bins of width 0.1 (drift shows as the counts move).</summary>
public sealed class CoherenceWindow(int capacity)
{
    public const int Bins = 10;
    private readonly byte[] bins = new byte[capacity];
    private readonly int[] counts = new int[Bins];
    private int next, filled;

    public static int Bin(float c) => Math.Clamp((int)(c * Bins), 0, Bins - 1);

    public void Add(float coherence)
    {
        if (filled == bins.Length) counts[bins[next]]--;
        else filled++;
        int b = Bin(coherence);
        bins[next] = (byte)b;
        counts[b]++;
        next = (next + 1) % bins.Length;
    }

    public int[] Counts() => (int[])counts.Clone();
}
