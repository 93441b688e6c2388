using Akka.Actor;
using CadStream.Actors.Scoring;
using CadStream.Actors.Training;
using CadStream.Ingress;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace CadStream.Actors.Ingest;

/// <summary>
/// Bridges the Kafka consumer to the cluster: groups accepted pairs into small batches for the
/// scorers, remembers which batches every model has stored in a snapshot (<see cref="BatchLedger"/>),
/// hands the positions of stored ones to the consumer to commit, and re-sends batches whose trainer
/// went silent (a trainer node died).
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
        /// <summary>A batch not stored by a trainer within this time is sent again.</summary>
        public TimeSpan RedeliverAfter { get; init; } = TimeSpan.FromSeconds(90);
    }

    /// <summary>Pairs sent to a trainer again (docs/interfaces.md, metrics).</summary>
    public static readonly Counter Redelivered = Metrics.CreateCounter("cad_ingest_redelivered_total",
        "Pairs sent to a trainer again because it did not store them in time.", "model");

    private readonly BatchLedger ledger = new();
    private readonly Dictionary<long, IncomingPair[]> inFlight = new();
    private readonly List<IncomingPair> pending = [];
    private long nextBatch = DateTime.UtcNow.Ticks;  // unique across restarts of this actor

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="durable">Told the positions of pairs every model of theirs has stored (the consumer commits past them).</param>
    public IngestActor(IActorRef scorers, Action<IReadOnlyList<RecordPosition>> durable, Options options, ILogger logger)
    {
        Receive<Accepted>(m =>
        {
            pending.Add(m.Pair);
            if (pending.Count >= options.BatchSize) Dispatch(scorers, durable);
            else if (!Timers.IsTimerActive("flush")) Timers.StartSingleTimer("flush", Flush.Instance, options.FlushAfter);
        });
        Receive<Flush>(_ => Dispatch(scorers, durable));
        Receive<BatchesDurable>(m =>
        {
            var done = ledger.Durable(m.ModelId, m.BatchIds);
            foreach (var id in m.BatchIds)
                if (!ledger.IsPending(id)) inFlight.Remove(id);
            if (done.Count > 0) durable(done);
        });
        Receive<Revoked>(m =>
        {
            foreach (var (topic, partition) in m.Partitions) ledger.Forget(topic, partition);
            pending.RemoveAll(x => m.Partitions.Any(p => x.Position.IsIn(p.Topic, p.Partition)));
            foreach (var id in inFlight.Keys.Where(id => !ledger.IsPending(id)).ToList()) inFlight.Remove(id);
        });
        Receive<CheckOverdue>(_ =>
        {
            int batches = 0, pairs = 0;
            var silent = new HashSet<string>();
            foreach (var (batchId, models) in ledger.Overdue(DateTime.UtcNow, options.RedeliverAfter))
            {
                if (!inFlight.TryGetValue(batchId, out var b)) continue;
                scorers.Tell(new ScorePairs(batchId, Self, b.Select(p => ToScore(p, models.ToArray())).ToArray()));
                batches++;
                pairs += b.Length;
                silent.UnionWith(models);
                foreach (var model in models) Redelivered.WithLabels(model).Inc(b.Count(p => p.ModelIds.Contains(model)));
            }
            // One line per check: after a trainer node dies, every batch it held is overdue at once.
            if (batches > 0)
                logger.LogWarning("{Batches} batches ({Pairs} pairs) not stored by {Models} within {Timeout}: sending them again",
                    batches, pairs, string.Join(",", silent.Order()), options.RedeliverAfter);
        });
        Timers.StartPeriodicTimer("overdue", CheckOverdue.Instance, TimeSpan.FromSeconds(5));
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

    private static PairToScore ToScore(IncomingPair p, string[] models) =>
        new(p.Id, p.ModelIds.Where(models.Contains).ToArray(), p.Label, p.Coherence, p.Score, p.Pixels);

    public static Props PropsFor(IActorRef scorers, Action<IReadOnlyList<RecordPosition>> durable, Options options, ILogger logger) =>
        Props.Create(() => new IngestActor(scorers, durable, options, logger));
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
