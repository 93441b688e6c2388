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
/// the TorchSharp model. It resumes from the snapshot bytes it is given; then its loop
/// (<see cref="TrainerLoop"/>) buffers incoming pairs (bounded replay), steps while fresh pairs arrive
/// (<see cref="TrainingBatches"/>), and every N steps or T seconds (<see cref="SnapshotCadence"/>)
/// serialises a snapshot and hands it to its owner to store (<see cref="SnapshotReady"/>): storing is
/// I/O and happens off this thread, so a slow or absent store never stalls training. One snapshot is
/// in flight at a time; the owner answers with <see cref="PublishOutcome"/>. After a failed store the
/// next attempt waits a back-off (1 s doubling to 30 s, so a store that comes back is used again within
/// half a minute), not the whole interval, and carries a new version: next = max(the store's latest,
/// the last one tried) + 1.
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
        var cadence = new SnapshotCadence(spec, resumeVersion, storeLatest, trainer.Steps);
        new TrainerLoop(spec, trainer, new TrainingBatches(spec, condition, device), cadence, condition.NeedsPreparation, tracePairs,
            logger, tellOwner, status, s => status = s).Run(inbox);
    }
}
