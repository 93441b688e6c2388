using Confluent.Kafka;
using Akka.Actor;
using Akka.Event;
using CadStream.Actors.Scoring;
using CadStream.Actors.Training;
using CadStream.Ingress;

namespace CadStream.Actors.Ingest;

/// <summary>
/// Bridges the Kafka consumer to the cluster: groups accepted pairs into small batches for the
/// scorers, tracks which batches every model has stored in a snapshot, tells the consumer what it
/// may commit, and re-sends batches whose trainer went silent (a trainer node died).
/// </summary>
public sealed class IngestActor : ReceiveActor, IWithTimers
{
    public sealed record Accepted(IncomingPair Pair);
    /// <summary>The consumer lost these partitions (offsets ignored): their records belong to another consumer now.</summary>
    public sealed record Revoked(IReadOnlyList<RecordSource> Partitions);
    private sealed record Flush { public static readonly Flush Instance = new(); }
    private sealed record CheckOverdue { public static readonly CheckOverdue Instance = new(); }

    public sealed record Options
    {
        public int BatchSize { get; init; } = 32;
        public TimeSpan FlushAfter { get; init; } = TimeSpan.FromMilliseconds(100);
        /// <summary>A batch not stored by a trainer within this time is sent again.</summary>
        public TimeSpan RedeliverAfter { get; init; } = TimeSpan.FromSeconds(90);
    }

    private readonly ILoggingAdapter log = Context.GetLogger();
    private readonly DurabilityTracker tracker = new();
    private readonly Dictionary<long, (IncomingPair[] Pairs, string[] Models)> inFlight = new();
    private readonly List<IncomingPair> pending = [];
    private long nextBatch = DateTime.UtcNow.Ticks;  // unique across restarts of this actor

    public ITimerScheduler Timers { get; set; } = null!;

    public IngestActor(IActorRef scorers, Action<IReadOnlyDictionary<TopicPartition, long>>? markDurable, Options options)
    {
        Receive<Accepted>(m =>
        {
            pending.Add(m.Pair);
            if (pending.Count >= options.BatchSize) Dispatch(scorers);
            else if (!Timers.IsTimerActive("flush")) Timers.StartSingleTimer("flush", Flush.Instance, options.FlushAfter);
        });
        Receive<Flush>(_ => Dispatch(scorers));
        Receive<BatchesDurable>(m =>
        {
            tracker.Durable(m.ModelId, m.BatchIds);
            foreach (var id in m.BatchIds)
                if (!tracker.IsPending(id)) inFlight.Remove(id);
            var committable = tracker.Committable();
            // The consumer wants, per partition, the highest offset through which handed-over pairs are durable.
            markDurable?.Invoke(committable.Where(kv => kv.Value > 0).ToDictionary(kv => new TopicPartition(kv.Key.Topic, new Partition(kv.Key.Partition)), kv => kv.Value - 1));
        });
        Receive<Revoked>(m =>
        {
            foreach (var p in m.Partitions) tracker.Forget(p.Topic, p.Partition);
            pending.RemoveAll(x => m.Partitions.Any(p => p.Topic == x.Source.Topic && p.Partition == x.Source.Partition));
            foreach (var id in inFlight.Keys.Where(id => !tracker.IsPending(id)).ToList()) inFlight.Remove(id);
        });
        Receive<CheckOverdue>(_ =>
        {
            int batches = 0, pairs = 0;
            var silent = new HashSet<string>();
            foreach (var (batchId, models) in tracker.Overdue(DateTime.UtcNow, options.RedeliverAfter))
            {
                if (!inFlight.TryGetValue(batchId, out var b)) continue;
                scorers.Tell(new ScorePairs(batchId, Self, b.Pairs.Select(p => ToScore(p, models.ToArray())).ToArray()));
                batches++;
                pairs += b.Pairs.Length;
                silent.UnionWith(models);
            }
            // One line per check: after a trainer node dies, every batch it held is overdue at once.
            if (batches > 0)
                log.Warning("{0} batches ({1} pairs) not stored by {2} within {3}: sending them again",
                    batches, pairs, string.Join(",", silent.Order()), options.RedeliverAfter);
        });
        Timers.StartPeriodicTimer("overdue", CheckOverdue.Instance, TimeSpan.FromSeconds(5));
    }

    private void Dispatch(IActorRef scorers)
    {
        Timers.Cancel("flush");
        if (pending.Count == 0) return;
        var pairs = pending.ToArray();
        pending.Clear();
        long id = nextBatch++;
        var models = pairs.SelectMany(p => p.ModelIds).Distinct().ToArray();
        tracker.Dispatched(id, pairs.Select(p => new RecordSource(p.Source.Topic, p.Source.Partition, p.Source.Offset)).ToArray(), models, DateTime.UtcNow);
        inFlight[id] = (pairs, models);
        scorers.Tell(new ScorePairs(id, Self, pairs.Select(p => ToScore(p, p.ModelIds.ToArray())).ToArray()));
    }

    private static PairToScore ToScore(IncomingPair p, string[] models) =>
        new(p.Id, p.ModelIds.Where(models.Contains).ToArray(), p.Label, p.Coherence, p.Score, p.Pixels);

    public static Props PropsFor(IActorRef scorers, Action<IReadOnlyDictionary<TopicPartition, long>>? markDurable, Options options) =>
        Props.Create(() => new IngestActor(scorers, markDurable, options));
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
