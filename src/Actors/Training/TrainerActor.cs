using System.Diagnostics;
using Akka.Actor;
using CadStream.Actors.Training.Conditions;
using CadStream.Catalog;
using CadStream.Snapshots;
using Microsoft.Extensions.Logging;

namespace CadStream.Actors.Training;

/// <summary>
/// The sharded trainer entity of one model (entity id = model id), hosted on trainer nodes only. It
/// owns a <see cref="TrainerWorker"/> and does the I/O around it: fetches the newest stored snapshot
/// to resume from, stores the snapshots the worker hands over, and tells the senders of the batches
/// a stored snapshot reflects. It keeps every batch until it is stored (<see cref="HeldBatches"/>), so a
/// worker that fails is replaced (after the node's back-off) and given them again. When its node dies the
/// entity is re-created elsewhere and resumes from the store (<see cref="ResumePoint"/>).
/// </summary>
public sealed class TrainerActor : ReceiveActor, IWithTimers
{
    /// <summary>Hand-off message of the shard region: stop after storing a final snapshot.</summary>
    public sealed record Stop
    {
        public static readonly Stop Instance = new();
    }

    private sealed record Resumed(long Generation, long Version, byte[]? Bytes, long StoreLatest, TrainerInputs Inputs);
    private sealed record Prepared(long BatchId, PreparedCondition[] Conditions);
    private sealed record PrepareFailed(Exception Error);
    private sealed record StartFailed(long Generation, Exception Error);
    private sealed record FromWorker(long Generation, object Message);
    private sealed record Published(long Generation, TrainerWorker.SnapshotReady Snapshot, SnapshotInfo Info, double Seconds);
    private sealed record PublishFailed(long Generation, TrainerWorker.SnapshotReady Snapshot, Exception Error);
    private sealed record StartAgain { public static readonly StartAgain Instance = new(); }
    private sealed record StopTimedOut { public static readonly StopTimedOut Instance = new(); }

    private readonly ModelSpec spec;
    private readonly ITrainingCondition condition = null!;
    private readonly ISnapshotStore store;
    private readonly TrainerServices services;
    private readonly ILogger logger;
    private readonly string part, node;
    private readonly HeldBatches held = new();
    private TrainerWorker? worker;
    private bool workerStarted;
    private long generation;
    private bool stopping;

    public ITimerScheduler Timers { get; set; } = null!;

    public TrainerActor(string modelId, ModelCatalog catalog, ISnapshotStore store, TrainerServices services)
    {
        this.store = store;
        this.services = services;
        logger = services.Loggers.CreateLogger<TrainerActor>();
        part = $"trainer {modelId}";
        node = Akka.Cluster.Cluster.Get(Context.System).SelfAddress.ToString();
        if (!catalog.TryGet(modelId, out spec!))
        {
            logger.LogWarning("trainer for unknown model {Model}: not in the configured catalog, stopping", modelId);
            Context.Stop(Self);
            return;
        }

        condition = TrainingConditions.For(spec, services.TextEncoder);

        // Exported at 0 from the start: a dashboard shows "none" rather than "no data".
        TrainerMetrics.SkippedSteps.WithLabels(modelId);
        TrainerMetrics.PublishFailures.WithLabels(modelId);

        Receive<Resumed>(m => m.Generation == generation, OnResumed);
        Receive<StartFailed>(m => m.Generation == generation, m => Restart(Unwrap(m.Error)));
        Receive<FromWorker>(m => m.Generation == generation, m => OnWorker(m.Message));
        Receive<Published>(m => m.Generation == generation, OnPublished);
        Receive<PublishFailed>(m => m.Generation == generation, OnPublishFailed);
        Receive<StartAgain>(_ => Begin());
        Receive<TrainPairs>(m =>
        {
            // The sender learns who holds the batch (and watches it): should this entity die before storing
            // it, the batch is sent again; while it lives, never. A batch this entity already holds (sent
            // again after a lost acknowledgement) is not queued twice; only its reply address is updated.
            m.AckTo.Tell(new BatchHeld(spec.Id, m.BatchId, Self));
            if (!held.Hold(m)) return;
            if (condition.NeedsPreparation) Prepare(m);
            else Post(m);
        });
        Receive<Prepared>(m =>
        {
            if (!held.TryGet(m.BatchId, out var batch)) return;  // stored or forgotten meanwhile
            held.Prepared(m.BatchId, m.Conditions);
            Post(batch);
        });
        Receive<PrepareFailed>(m => Restart(Unwrap(m.Error)));
        // Counters only once the worker has resumed: before, it would say step 0 for a model whose snapshot holds more, and
        // the asker (the node's status, which asks every second) keeps the last figures it heard instead.
        Receive<GetTrainerStatus>(_ => { if (worker is { } w && workerStarted) Sender.Tell(w.Status); });
        Receive<Stop>(_ =>
        {
            stopping = true;
            if (worker is null) { Context.Stop(Self); return; }
            worker.RequestStop();
            Timers.StartSingleTimer("stop", StopTimedOut.Instance, TimeSpan.FromSeconds(90));
        });
        Receive<StopTimedOut>(_ =>
        {
            logger.LogWarning("trainer {Model}: the final snapshot was not stored in time; its pairs will be sent again", spec.Id);
            Context.Stop(Self);
        });
    }

    protected override void PreStart()
    {
        if (spec is not null) Begin();
    }

    /// <summary>Fetches the newest stored snapshot (async, off the worker), then starts a worker on it.</summary>
    private void Begin()
    {
        long gen = ++generation;
        services.Health.Starting(part);
        FetchLatestAsync(gen).PipeTo(Self, failure: e => new StartFailed(gen, e));
    }

    /// <summary>What the worker is built with, then where it resumes (off the actor from the first await on).</summary>
    private async Task<Resumed> FetchLatestAsync(long gen)
    {
        var inputs = condition.Inputs();
        var point = await ResumePoint.NewestVerifiedAsync(store, spec.Id, logger).ConfigureAwait(false);
        return new Resumed(gen, point.Version, point.Bytes, point.StoreLatest, inputs);
    }

    private void OnResumed(Resumed m)
    {
        var self = Self;
        long gen = m.Generation;
        workerStarted = false;
        worker = new TrainerWorker(spec, m.Bytes, m.Version, services.Device, services.Threads, node,
            message => self.Tell(new FromWorker(gen, message)), logger, m.StoreLatest, tracePairs: services.PairsStored is not null,
            inputs: m.Inputs);
        worker.Start();
        foreach (var batch in held.All) Post(batch);
        if (stopping) worker.RequestStop();
    }

    private void Post(TrainPairs batch)
    {
        if (worker is null) return;  // a new worker gets every held batch when it starts
        PreparedCondition[]? conditions = null;
        if (condition.NeedsPreparation && !held.TryGetPrepared(batch.BatchId, out conditions)) return;  // posted once prepared
        if (!worker.TryPost(new TrainerWorker.PreparedPairs(batch, conditions))) throw new InvalidOperationException($"trainer {spec.Id}: the worker's queue is full");
    }

    /// <summary>Prepares a batch off the actor and the training thread (a text batch's captions, encoded; the encoder caches repeats).</summary>
    private void Prepare(TrainPairs batch) =>
        Task.Run(() => new Prepared(batch.BatchId, condition.Prepare(batch))).PipeTo(Self, failure: e => new PrepareFailed(e));

    private void OnWorker(object message)
    {
        switch (message)
        {
            case TrainerWorker.Started:
                workerStarted = true;
                services.Health.Running(part);
                break;
            case TrainerWorker.SnapshotReady ready:
                long gen = generation;
                var clock = Stopwatch.StartNew();
                store.PublishAsync(spec.Id, ready.Bytes, ready.Version, ready.Steps, ready.Samples)
                    .PipeTo(Self, success: info => new Published(gen, ready, info, ready.SerializeSeconds + clock.Elapsed.TotalSeconds),
                        failure: e => new PublishFailed(gen, ready, e));
                break;
            case TrainerWorker.Stopped:
                Context.Stop(Self);
                break;
            case TrainerWorker.Failed failed:
                Restart(failed.Error);
                break;
        }
    }

    private void OnPublished(Published m)
    {
        var ready = m.Snapshot;
        TrainerMetrics.PublishSeconds.WithLabels(spec.Id).Observe(m.Seconds);
        TrainerMetrics.SnapshotVersion.WithLabels(spec.Id).Set(ready.Version);
        // Before the durable notices: whoever traces pairs sees them stored before any offset commits past them.
        services.PairsStored?.Invoke(new PairsStored(spec.Id, ready.Version, ready.PairIds));
        foreach (var (ackTo, ids) in held.Release(ready.BatchIds))
            ackTo.Tell(new BatchesDurable(spec.Id, ids, ready.Version));
        worker?.TryPost(new TrainerWorker.PublishOutcome(ready.Version, Stored: true));
        if (ready.Final) Context.Stop(Self);
    }

    private void OnPublishFailed(PublishFailed m)
    {
        TrainerMetrics.PublishFailures.WithLabels(spec.Id).Inc();
        logger.LogWarning("trainer {Model}: storing snapshot v{Version} failed, will retry with back-off: {Error}", spec.Id, m.Snapshot.Version, Unwrap(m.Error).Message);
        long storeLatest = Unwrap(m.Error) is SnapshotVersionConflictException conflict ? conflict.StoreLatest : 0;
        worker?.TryPost(new TrainerWorker.PublishOutcome(m.Snapshot.Version, Stored: false, storeLatest));
        if (m.Snapshot.Final)
        {
            logger.LogWarning("trainer {Model}: stopping without a final snapshot; its pairs will be sent again", spec.Id);
            Context.Stop(Self);
        }
    }

    static Exception Unwrap(Exception e) => e is AggregateException { InnerExceptions.Count: 1 } a ? Unwrap(a.InnerExceptions[0]) : e;

    /// <summary>The worker (or its start) failed: report it, and start a new one after the back-off.</summary>
    private void Restart(Exception error)
    {
        worker?.Dispose();
        worker = null;
        workerStarted = false;
        generation++;  // whatever the old worker or its fetch still sends is ignored
        // The health line says what failed; the stack goes to the debug log for whoever digs deeper.
        logger.LogDebug(error, "trainer {Model}: failure details", spec.Id);
        var delay = services.Health.Failed(part, error);
        if (stopping) { Context.Stop(Self); return; }
        Timers.StartSingleTimer("restart", StartAgain.Instance, delay);
    }

    /// <summary>A restart loses what this instance held: its senders are told to send it again (the actor reference stays the same, so no one sees it die).</summary>
    protected override void PreRestart(Exception reason, object message)
    {
        foreach (var (ackTo, ids) in held.Drop())
            ackTo.Tell(new BatchesLost(spec.Id, ids));
        base.PreRestart(reason, message);
    }

    protected override void PostStop()
    {
        worker?.Dispose();
        services.Health.Remove(part);
        base.PostStop();
    }

    public static Props PropsFor(string modelId, ModelCatalog catalog, ISnapshotStore store, TrainerServices services) =>
        Props.Create(() => new TrainerActor(modelId, catalog, store, services));
}
