using Akka.Actor;
using Akka.Cluster;
using CadStream.Actors.Scoring;
using CadStream.Actors.Training;
using CadStream.Ingress;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace CadStream.Actors.Ingest;

/// <summary>
/// Bridges the Kafka consumer to the cluster: groups accepted pairs into small batches for the
/// scorers, remembers which trainer holds each batch and which batches every model has stored in a
/// snapshot (<see cref="BatchLedger"/>), hands the positions of stored ones to the consumer to commit,
/// and sends a batch again only when the trainer that held it is gone (death watch), says it lost it,
/// or the batch never arrived: a slow trainer is never sent a batch twice.
/// </summary>
public sealed class IngestActor : ReceiveActor, IWithTimers
{
    public sealed record Accepted(IncomingPair Pair);
    /// <summary>The consumer lost these partitions: their records belong to another consumer now.</summary>
    public sealed record Revoked(IReadOnlyList<(string Topic, int Partition)> Partitions);
    private sealed record Flush { public static readonly Flush Instance = new(); }
    private sealed record CheckOverdue { public static readonly CheckOverdue Instance = new(); }

    public sealed record Options
    {
        public int BatchSize { get; init; } = 32;
        public TimeSpan FlushAfter { get; init; } = TimeSpan.FromMilliseconds(100);
        /// <summary>A batch that no trainer said it holds within this time (lost on the way) is sent again.</summary>
        public TimeSpan RedeliverAfter { get; init; } = TimeSpan.FromSeconds(90);
    }

    /// <summary>Pairs sent to a trainer again (docs/interfaces.md, metrics).</summary>
    public static readonly Counter Redelivered = Metrics.CreateCounter("cad_ingest_redelivered_total",
        "Pairs sent to a trainer again because the trainer that held them is gone, lost them, or never got them.", "model");

    /// <summary>Messages that would move commits, refused because no cluster member sent them (docs/interfaces.md, metrics).</summary>
    public static readonly Counter Refused = Metrics.CreateCounter("cad_ingest_refused_messages_total",
        "Messages that would move Kafka commits (BatchesDurable, BatchHeld, BatchesLost) dropped because their sender is neither on this node nor a cluster member, or is not the trainer that holds the batch.", "message");

    /// <summary>At most one warning about refused messages per this interval (a flood must not flood the log).</summary>
    public static readonly TimeSpan RefusedLogInterval = TimeSpan.FromSeconds(10);

    private readonly BatchLedger ledger = new();
    private readonly Dictionary<long, IncomingPair[]> inFlight = new();
    private readonly HashSet<IActorRef> watched = [];
    private readonly ILogger logger;
    private readonly IActorRef scorers;
    private readonly Action<Exception>? restarted;
    private readonly List<IncomingPair> pending = [];
    private long nextBatch = DateTime.UtcNow.Ticks;  // unique across restarts of this actor
    private DateTime lastRefusedLog = DateTime.MinValue;
    private int refusedSinceLog;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="durable">Told the positions of pairs every model of theirs has stored (the consumer commits past them).</param>
    /// <param name="restarted">Called when this actor restarts after a failure: its memory of batches is gone, so the
    /// consumer it belongs to must start over from the last commit.</param>
    public IngestActor(IActorRef scorers, Action<IReadOnlyList<RecordPosition>> durable, Options options, ILogger logger, Action<Exception>? restarted = null)
    {
        this.restarted = restarted;
        this.logger = logger;
        // Exported at 0 from the start, so dashboards and alerts see the series before the first refusal.
        foreach (var name in new[] { nameof(BatchesDurable), nameof(BatchHeld), nameof(BatchesLost) }) Refused.WithLabels(name);
        this.scorers = scorers;
        Receive<Accepted>(m =>
        {
            pending.Add(m.Pair);
            if (pending.Count >= options.BatchSize) Dispatch(scorers, durable);
            else if (!Timers.IsTimerActive("flush")) Timers.StartSingleTimer("flush", Flush.Instance, options.FlushAfter);
        });
        Receive<Flush>(_ => Dispatch(scorers, durable));
        Receive<BatchHeld>(m =>
        {
            if (!FromMember(m)) return;
            // A trainer says it holds a batch as itself; naming another holder would let a member speak for it.
            if (!m.Holder.Equals(Sender)) { Refuse(m, "it names another actor as the holder"); return; }
            if (!ledger.Held(m.BatchId, m.ModelId, m.Holder)) return;
            if (watched.Add(m.Holder)) Context.Watch(m.Holder);
        });
        Receive<BatchesDurable>(m =>
        {
            if (!FromMember(m)) return;
            // Only the trainer entity that said it holds a batch may say it is stored: another member (or another
            // trainer) could otherwise commit offsets of pairs no snapshot reflects.
            if (m.BatchIds.Any(id => !ledger.HeldBy(id, m.ModelId, Sender))) { Refuse(m, "it is not the trainer that holds the batch"); return; }
            var done = ledger.Durable(m.ModelId, m.BatchIds);
            foreach (var id in m.BatchIds)
                if (!ledger.IsPending(id)) inFlight.Remove(id);
            if (done.Count > 0) durable(done);
        });
        Receive<Terminated>(m =>
        {
            watched.Remove(m.ActorRef);
            var again = ledger.Gone(m.ActorRef, DateTime.UtcNow);
            if (again.Count > 0)
                Resend(again.GroupBy(a => a.BatchId).Select(g => (g.Key, (IReadOnlyCollection<string>)g.Select(a => a.Model).ToArray())).ToArray(),
                    $"their trainer {m.ActorRef.Path} is gone");
        });
        Receive<BatchesLost>(m =>
        {
            if (!FromMember(m)) return;
            var again = ledger.Lost(m.ModelId, m.BatchIds, DateTime.UtcNow);
            if (again.Count > 0) Resend(again.Select(id => (id, (IReadOnlyCollection<string>)[m.ModelId])).ToArray(), $"the trainer of {m.ModelId} lost them");
        });
        Receive<Revoked>(m =>
        {
            foreach (var (topic, partition) in m.Partitions) ledger.Forget(topic, partition);
            pending.RemoveAll(x => m.Partitions.Any(p => x.Position.IsIn(p.Topic, p.Partition)));
            foreach (var id in inFlight.Keys.Where(id => !ledger.IsPending(id)).ToList()) inFlight.Remove(id);
        });
        Receive<CheckOverdue>(_ =>
        {
            var late = ledger.Overdue(DateTime.UtcNow, options.RedeliverAfter);
            if (late.Count > 0) Resend(late, $"no trainer received them within {options.RedeliverAfter}");
            // Stop watching trainers that hold nothing any more.
            foreach (var w in watched.Where(w => !ledger.Holds(w)).ToList())
            {
                Context.Unwatch(w);
                watched.Remove(w);
            }
        });
        // A node that left may have taken batches on their way with it (at its scorer, or bound for a trainer
        // entity there that never said it held them): send those again at once rather than after RedeliverAfter.
        Receive<ClusterEvent.MemberRemoved>(m =>
        {
            var again = ledger.InTransit(DateTime.UtcNow);
            if (again.Count > 0) Resend(again, $"node {m.Member.Address} left the cluster while they were on their way");
        });
        Timers.StartPeriodicTimer("overdue", CheckOverdue.Instance, TimeSpan.FromSeconds(5));
    }

    protected override void PreStart()
    {
        if (((ExtendedActorSystem)Context.System).Provider is Akka.Cluster.ClusterActorRefProvider)
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.MemberRemoved));
        base.PreStart();
    }

    protected override void PostStop()
    {
        if (((ExtendedActorSystem)Context.System).Provider is Akka.Cluster.ClusterActorRefProvider) Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        base.PostStop();
    }

    /// <summary>Whether the current message comes from this node or a cluster member; if not, it is counted and (rate-limited) logged.</summary>
    private bool FromMember(object message)
    {
        if (ClusterSenders.IsMember(Sender, Context.System)) return true;
        Refuse(message, "the sender is neither on this node nor a cluster member");
        return false;
    }

    private void Refuse(object message, string why)
    {
        Refused.WithLabels(message.GetType().Name).Inc();
        refusedSinceLog++;
        var now = DateTime.UtcNow;
        if (now - lastRefusedLog >= RefusedLogInterval)
        {
            logger.LogWarning("dropped {Count} message(s) that would move commits, latest a {Message} from {Sender}: {Why}",
                refusedSinceLog, message.GetType().Name, Sender.Path.ToString(), why);
            lastRefusedLog = now;
            refusedSinceLog = 0;
        }
    }

    private void Dispatch(IActorRef scorers, Action<IReadOnlyList<RecordPosition>> durable)
    {
        Timers.Cancel("flush");
        if (pending.Count == 0) return;
        var pairs = pending.ToArray();
        pending.Clear();
        long id = nextBatch++;
        var models = pairs.SelectMany(p => p.ModelIds).Distinct().ToArray();
        foreach (var m in models) Redelivered.WithLabels(m);  // exported at 0 from the first batch on, not only after a redelivery
        var nothingToWaitFor = ledger.Dispatched(id, pairs.Select(p => p.Position).ToArray(), models, DateTime.UtcNow);
        if (nothingToWaitFor.Count > 0) { durable(nothingToWaitFor); return; }
        inFlight[id] = pairs;
        scorers.Tell(new ScorePairs(id, Self, pairs.Select(p => ToScore(p, p.ModelIds.ToArray())).ToArray()));
    }

    protected override void PreRestart(Exception reason, object message)
    {
        restarted?.Invoke(reason);
        base.PreRestart(reason, message);
    }

    /// <summary>Sends batches again to the given models (through the scorers); one log line per occasion.</summary>
    private void Resend(IReadOnlyList<(long BatchId, IReadOnlyCollection<string> Models)> batches, string why)
    {
        int sent = 0, pairs = 0;
        var models = new HashSet<string>();
        foreach (var (batchId, to) in batches)
        {
            if (!inFlight.TryGetValue(batchId, out var b)) continue;
            scorers.Tell(new ScorePairs(batchId, Self, b.Select(p => ToScore(p, to.ToArray())).ToArray()));
            sent++;
            pairs += b.Length;
            models.UnionWith(to);
            foreach (var model in to) Redelivered.WithLabels(model).Inc(b.Count(p => p.ModelIds.Contains(model)));
        }
        if (sent > 0)
            logger.LogWarning("sending {Batches} batches ({Pairs} pairs) again to {Models}: {Why}", sent, pairs, string.Join(",", models.Order()), why);
    }

    private static PairToScore ToScore(IncomingPair p, string[] models) =>
        new(p.Id, p.ModelIds.Where(models.Contains).ToArray(), p.Label, p.Coherence, p.Score, p.Pixels, p.Caption);

    public static Props PropsFor(IActorRef scorers, Action<IReadOnlyList<RecordPosition>> durable, Options options, ILogger logger,
        Action<Exception>? restarted = null) =>
        Props.Create(() => new IngestActor(scorers, durable, options, logger, restarted));
}

/// <summary>
/// The consumer's sink: every decoded pair goes to the ingest actor. The bound on pairs not yet
/// in a stored snapshot is the consumer's (it pauses its partitions at MaxInFlight).
/// </summary>
public sealed class ActorPairSink(IActorRef ingest) : IPairSink
{
    public ValueTask<bool> OfferAsync(IncomingPair pair, CancellationToken cancel)
    {
        ingest.Tell(new IngestActor.Accepted(pair));
        return new(true);
    }
}
