using System.Diagnostics;
using CadStream.Catalog;
using CadStream.Model.Training;

namespace CadStream.Actors.Training;

/// <summary>
/// When a trainer's worker serialises a snapshot and what it reflects: every N steps or T seconds, one in flight
/// at a time; after a failed store the next waits a back-off (1 s doubling to 30 s) instead of the interval, and
/// takes back the batches and pairs of the failed one. Versions are never reused: next = max(the store's latest,
/// the last one tried) + 1. Lives on the worker's thread only.
/// </summary>
internal sealed class SnapshotCadence(ModelSpec spec, long resumeVersion, long storeLatest, long resumedSteps)
{
    // Batches whose pairs have all been trained on since the last stored snapshot, and (when traced) those pairs' ids.
    private readonly List<long> trainedBatches = [];
    private readonly List<string> trainedPairs = [];
    private readonly Stopwatch sinceSnapshot = Stopwatch.StartNew();
    // The last version stored (what status shows) and the last one tried (stored or not): never reused.
    private long version = resumeVersion, lastTried = storeLatest, storedSteps = resumedSteps;
    private int failures;
    private TrainerWorker.SnapshotReady? inFlight;

    /// <summary>The last version stored.</summary>
    public long Version => version;

    public bool InFlight => inFlight is not null;

    /// <summary>Every pair of this batch has been trained on: the next snapshot reflects it.</summary>
    public void Trained(long batchId) => trainedBatches.Add(batchId);

    /// <summary>A traced pair trained on (a fresh pair's first step).</summary>
    public void TrainedPair(string id) => trainedPairs.Add(id);

    /// <summary>Whether a snapshot is due at <paramref name="steps"/> (none must be in flight).</summary>
    public bool Due(long steps)
    {
        long since = steps - storedSteps;
        if (failures > 0)  // retry with back-off, whatever the interval says
            return sinceSnapshot.Elapsed.TotalSeconds >= Math.Min(30, Math.Pow(2, failures - 1)) && (since > 0 || trainedBatches.Count > 0);
        return since >= spec.SnapshotEverySteps
               || (sinceSnapshot.Elapsed.TotalSeconds >= spec.SnapshotEverySeconds && (since > 0 || trainedBatches.Count > 0));
    }

    /// <summary>Whether anything was trained since the last stored snapshot (a final one is worth storing).</summary>
    public bool Unstored(long steps) => trainedBatches.Count > 0 || steps > storedSteps;

    /// <summary>Serialises the next snapshot; it is in flight until <see cref="Settle"/> hears its outcome.</summary>
    public TrainerWorker.SnapshotReady Offer(CadTrainer trainer, bool final)
    {
        var clock = Stopwatch.StartNew();
        long next = lastTried + 1;
        var bytes = trainer.ToSnapshot(next, includeTrainingState: true).ToBytes();
        inFlight = new TrainerWorker.SnapshotReady(next, bytes, trainer.Steps, trainer.SamplesSeen, trainedBatches.ToArray(), trainedPairs.ToArray(),
            clock.Elapsed.TotalSeconds, final);
        trainedBatches.Clear();
        trainedPairs.Clear();
        return inFlight;
    }

    /// <summary>The owner's answer on the snapshot in flight; false (ignored) when it is about another version.</summary>
    public bool Settle(TrainerWorker.PublishOutcome outcome)
    {
        if (inFlight is null || outcome.Version != inFlight.Version) return false;
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
        return true;
    }
}
