using System.Diagnostics;
using CadStream.Actors.Training.Conditions;
using CadStream.Catalog;
using CadStream.Model.Training;
using CadStream.Runtime;
using Microsoft.Extensions.Logging;

namespace CadStream.Actors.Training;

/// <summary>
/// One run of a <see cref="TrainerWorker"/>'s loop, on its thread only: takes the batches and publish outcomes
/// its owner posts, keeps the pairs in a bounded replay buffer, steps while fresh pairs arrive, hands over a
/// snapshot when <see cref="SnapshotCadence"/> says one is due, and reports its counters as status.
/// </summary>
internal sealed class TrainerLoop
{
    private readonly ModelSpec spec;
    private readonly CadTrainer trainer;
    private readonly TrainingBatches batches;
    private readonly SnapshotCadence cadence;
    private readonly bool needsPreparation, tracePairs;
    private readonly ILogger logger;
    private readonly Action<object> tellOwner;
    private readonly Action<TrainerStatus> report;
    private readonly ReplayBuffer<TrainingItem> buffer;
    // Pairs left to train on per open source batch: a batch is trained once its last pair was.
    private readonly Dictionary<long, int> remaining = new();
    private readonly CoherenceWindow recent = new(2048);
    private TrainerStatus status;
    private double smoothed = double.NaN;

    /// <param name="status">The status so far (model, node, resumed version): the loop's reports update it.</param>
    /// <param name="report">Where each new status goes (read by the owner's thread).</param>
    public TrainerLoop(ModelSpec spec, CadTrainer trainer, TrainingBatches batches, SnapshotCadence cadence, bool needsPreparation, bool tracePairs,
        ILogger logger, Action<object> tellOwner, TrainerStatus status, Action<TrainerStatus> report)
    {
        this.spec = spec;
        this.trainer = trainer;
        this.batches = batches;
        this.cadence = cadence;
        this.needsPreparation = needsPreparation;
        this.tracePairs = tracePairs;
        this.logger = logger;
        this.tellOwner = tellOwner;
        this.status = status;
        this.report = report;
        buffer = new ReplayBuffer<TrainingItem>(spec.ReplaySize, spec.Seed);
    }

    public void Run(TorchWorker<object>.Inbox inbox)
    {
        Publish();
        while (true)
        {
            bool stopping = inbox.Stopping;
            Take(inbox);
            if (stopping) break;
            if (!cadence.InFlight && cadence.Due(trainer.Steps)) tellOwner(cadence.Offer(trainer, final: false));
            if (!StepOnce()) inbox.Wait(TimeSpan.FromMilliseconds(200));
        }
        Finish(inbox);
    }

    /// <summary>A graceful stop (hand-off, shutdown) stores what was trained, so nothing is redone.</summary>
    private void Finish(TorchWorker<object>.Inbox inbox)
    {
        var deadline = Stopwatch.StartNew();
        while (cadence.InFlight && deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            inbox.WaitForItem(TimeSpan.FromMilliseconds(200));
            Take(inbox);
        }
        if (!cadence.InFlight && cadence.Unstored(trainer.Steps)) tellOwner(cadence.Offer(trainer, final: true));
        else tellOwner(new TrainerWorker.Stopped());
    }

    private void Take(TorchWorker<object>.Inbox inbox)
    {
        foreach (var message in inbox.TakeAll())
            switch (message)
            {
                case TrainerWorker.PreparedPairs incoming:
                    Add(incoming.Pairs, incoming.Conditions);
                    break;
                case TrainerWorker.PublishOutcome outcome:
                    if (cadence.Settle(outcome)) Publish();
                    break;
            }
    }

    private void Add(TrainPairs incoming, PreparedCondition[]? prepared)
    {
        if (needsPreparation && prepared is null) throw new InvalidOperationException($"trainer {spec.Id}: a batch arrived unprepared");
        remaining[incoming.BatchId] = remaining.GetValueOrDefault(incoming.BatchId) + incoming.Pairs.Count;
        for (int i = 0; i < incoming.Pairs.Count; i++)
        {
            var p = incoming.Pairs[i];
            buffer.Add(new TrainingItem(p, incoming.BatchId, prepared?[i]));
            recent.Add(p.Coherence);
        }
        if (incoming.Pairs.Count == 0) cadence.Trained(incoming.BatchId);
        // The table that gave score-derived coherences their meaning goes into every snapshot once frozen.
        if (incoming.Bins is { Version: >= 1 } bins) trainer.CoherenceBins = bins.ToJson();
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
        var batch = batches.Build(items);
        long skippedBefore = trainer.SkippedSteps;
        StepResult result;
        using (batch) result = trainer.Step(batch);
        TrainerMetrics.StepSeconds.WithLabels(spec.Id).Observe(clock.Elapsed.TotalSeconds);
        if (result.Applied) TrainerMetrics.Steps.WithLabels(spec.Id).Inc();
        if (trainer.SkippedSteps > skippedBefore)
        {
            TrainerMetrics.SkippedSteps.WithLabels(spec.Id).Inc(trainer.SkippedSteps - skippedBefore);
            logger.LogWarning("trainer {Model}: step skipped ({Reason}); the weights are unchanged", spec.Id, result.SkipReason);
        }
        if (double.IsFinite(result.Loss))
        {
            smoothed = double.IsNaN(smoothed) ? result.Loss : 0.95 * smoothed + 0.05 * result.Loss;
            TrainerMetrics.Loss.WithLabels(spec.Id).Set(smoothed);
        }

        // Fresh pairs are the batch's tail; a source batch is trained once its last pair was.
        foreach (var item in items.Skip(items.Count - freshTaken))
        {
            if (tracePairs) cadence.TrainedPair(item.Pair.Id);
            if (!remaining.TryGetValue(item.BatchId, out var left)) continue;
            if (left <= 1) { remaining.Remove(item.BatchId); cadence.Trained(item.BatchId); }
            else remaining[item.BatchId] = left - 1;
        }
        TrainerMetrics.Samples.WithLabels(spec.Id).Inc(freshTaken);
        Publish();
        return true;
    }

    private void Publish()
    {
        status = status with
        {
            Steps = trainer.Steps, SamplesSeen = trainer.SamplesSeen, SkippedSteps = trainer.SkippedSteps, Loss = smoothed,
            SnapshotVersion = cadence.Version, BufferedPairs = buffer.Count, FreshPairs = buffer.FreshCount, CoherenceCounts = recent.Counts(),
        };
        report(status);
    }
}
