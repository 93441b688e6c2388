using Akka.Actor;
using CadStream.Ingress;

namespace CadStream.Actors.Ingest;

/// <summary>
/// The ingest actor's memory of dispatched batches: which records each holds and, for every model it
/// went to, whether it is still on its way, held by a trainer entity (which keeps it until stored), or
/// stored. A batch stored by every model it went to is done: its positions go to the consumer's commit
/// ledger, the one place that decides offsets. A batch is sent again only when its trainer is gone (or
/// says it lost it), or when it never arrived: never because its trainer is slow. Not thread-safe: one
/// owner (an actor).
/// </summary>
public sealed class BatchLedger
{
    private sealed class Pending(RecordPosition[] positions, IEnumerable<string> models, DateTime sentAt)
    {
        public RecordPosition[] Positions { get; } = positions;
        /// <summary>Per model not yet stored: the trainer that holds the batch, or null while it is on its way.</summary>
        public Dictionary<string, IActorRef?> Holders { get; } = models.ToDictionary(m => m, _ => (IActorRef?)null);
        /// <summary>Per model on its way: when it was (last) sent.</summary>
        public Dictionary<string, DateTime> SentAt { get; } = models.ToDictionary(m => m, _ => sentAt);
    }

    private readonly Dictionary<long, Pending> batches = new();

    public int PendingBatches => batches.Count;

    /// <summary>Records a dispatched batch; returns its positions when no model needs it (nothing to wait for).</summary>
    public IReadOnlyList<RecordPosition> Dispatched(long batchId, IReadOnlyList<RecordPosition> positions, IEnumerable<string> models, DateTime now)
    {
        var set = models.Distinct().ToArray();
        if (set.Length == 0) return positions;
        batches[batchId] = new Pending(positions.ToArray(), set, now);
        return [];
    }

    public bool IsPending(long batchId) => batches.ContainsKey(batchId);

    /// <summary>The trainer of <paramref name="model"/> holds the batch; false when the batch is no longer pending for that model.</summary>
    public bool Held(long batchId, string model, IActorRef holder)
    {
        if (!batches.TryGetValue(batchId, out var p) || !p.Holders.ContainsKey(model)) return false;
        p.Holders[model] = holder;
        p.SentAt.Remove(model);
        return true;
    }

    /// <summary>
    /// Whether <paramref name="sender"/> is the trainer that said it holds the batch for <paramref name="model"/>: only it
    /// may say the batch is stored. True also for a batch no longer pending (nothing left to commit for it).
    /// </summary>
    public bool HeldBy(long batchId, string model, IActorRef sender) =>
        !batches.TryGetValue(batchId, out var p) || !p.Holders.TryGetValue(model, out var h) || (h is not null && h.Equals(sender));

    /// <summary>A model stored a snapshot reflecting these batches; returns the positions of the batches now stored by all their models.</summary>
    public IReadOnlyList<RecordPosition> Durable(string model, IEnumerable<long> batchIds)
    {
        var done = new List<RecordPosition>();
        foreach (var id in batchIds)
        {
            if (!batches.TryGetValue(id, out var p) || !p.Holders.Remove(model)) continue;
            p.SentAt.Remove(model);
            if (p.Holders.Count > 0) continue;
            batches.Remove(id);
            done.AddRange(p.Positions);
        }
        return done;
    }

    /// <summary>
    /// The trainer <paramref name="holder"/> is gone (its node died, or it stopped without storing them): the
    /// batches it held, per model, to send again. They count as on their way from <paramref name="now"/>.
    /// </summary>
    public IReadOnlyList<(long BatchId, string Model)> Gone(IActorRef holder, DateTime now)
    {
        var again = new List<(long, string)>();
        foreach (var (id, p) in batches)
            foreach (var (model, h) in p.Holders.ToArray())
                if (h is not null && h.Equals(holder))
                {
                    p.Holders[model] = null;
                    p.SentAt[model] = now;
                    again.Add((id, model));
                }
        return again;
    }

    /// <summary>The trainer of <paramref name="model"/> lost these batches (it restarted): the ones still pending, to send again.</summary>
    public IReadOnlyList<long> Lost(string model, IEnumerable<long> batchIds, DateTime now)
    {
        var again = new List<long>();
        foreach (var id in batchIds)
            if (batches.TryGetValue(id, out var p) && p.Holders.ContainsKey(model))
            {
                p.Holders[model] = null;
                p.SentAt[model] = now;
                again.Add(id);
            }
        return again;
    }

    /// <summary>Whether some pending batch is held by <paramref name="holder"/> (worth watching).</summary>
    public bool Holds(IActorRef holder) => batches.Values.Any(p => p.Holders.Values.Any(h => h is not null && h.Equals(holder)));

    /// <summary>
    /// Batches that never arrived at a trainer within the timeout (a message lost with a node): per model, send
    /// them again. A batch a trainer holds is never overdue, however long it takes to store.
    /// </summary>
    public IReadOnlyList<(long BatchId, IReadOnlyCollection<string> Models)> Overdue(DateTime now, TimeSpan timeout)
    {
        var list = new List<(long, IReadOnlyCollection<string>)>();
        foreach (var (id, p) in batches)
        {
            var late = p.SentAt.Where(s => now - s.Value > timeout).Select(s => s.Key).ToArray();
            if (late.Length == 0) continue;
            foreach (var m in late) p.SentAt[m] = now;
            list.Add((id, late));
        }
        return list;
    }

    /// <summary>
    /// Every batch still on its way (sent, not yet held by a trainer), per model, counted as sent again from
    /// <paramref name="now"/>: when a node leaves, what it was scoring or forwarding may have gone with it.
    /// </summary>
    public IReadOnlyList<(long BatchId, IReadOnlyCollection<string> Models)> InTransit(DateTime now)
    {
        var list = new List<(long, IReadOnlyCollection<string>)>();
        foreach (var (id, p) in batches)
        {
            if (p.SentAt.Count == 0) continue;
            var models = p.SentAt.Keys.ToArray();
            foreach (var m in models) p.SentAt[m] = now;
            list.Add((id, models));
        }
        return list;
    }

    /// <summary>Partitions revoked from this consumer: their records will be delivered to another one.</summary>
    public void Forget(string topic, int partition)
    {
        foreach (var id in batches.Where(b => b.Value.Positions.Any(s => s.IsIn(topic, partition))).Select(b => b.Key).ToList())
            batches.Remove(id);
    }
}
