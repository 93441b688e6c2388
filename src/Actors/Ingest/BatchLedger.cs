using CadStream.Ingress;

namespace CadStream.Actors.Ingest;

/// <summary>
/// The ingest actor's memory of dispatched batches: which records each holds, which models have not
/// yet stored it in a snapshot, and when it was sent. A batch stored by every model it went to is
/// done: its positions go to the consumer's commit ledger, the one place that decides offsets.
/// Not thread-safe: one owner (an actor).
/// </summary>
public sealed class BatchLedger
{
    private sealed class Pending(RecordPosition[] positions, HashSet<string> models, DateTime sentAt)
    {
        public RecordPosition[] Positions { get; } = positions;
        public HashSet<string> Models { get; } = models;
        public DateTime SentAt { get; set; } = sentAt;
    }

    private readonly Dictionary<long, Pending> batches = new();

    public int PendingBatches => batches.Count;

    /// <summary>Records a dispatched batch; returns its positions when no model needs it (nothing to wait for).</summary>
    public IReadOnlyList<RecordPosition> Dispatched(long batchId, IReadOnlyList<RecordPosition> positions, IEnumerable<string> models, DateTime now)
    {
        var set = new HashSet<string>(models);
        if (set.Count == 0) return positions;
        batches[batchId] = new Pending(positions.ToArray(), set, now);
        return [];
    }

    public bool IsPending(long batchId) => batches.ContainsKey(batchId);

    /// <summary>A model stored a snapshot reflecting these batches; returns the positions of the batches now stored by all their models.</summary>
    public IReadOnlyList<RecordPosition> Durable(string model, IEnumerable<long> batchIds)
    {
        var done = new List<RecordPosition>();
        foreach (var id in batchIds)
        {
            if (!batches.TryGetValue(id, out var p) || !p.Models.Remove(model) || p.Models.Count > 0) continue;
            batches.Remove(id);
            done.AddRange(p.Positions);
        }
        return done;
    }

    /// <summary>Batches not stored within the timeout (their trainer may have died): send them again.</summary>
    public IReadOnlyList<(long BatchId, IReadOnlyCollection<string> Models)> Overdue(DateTime now, TimeSpan timeout)
    {
        var list = new List<(long, IReadOnlyCollection<string>)>();
        foreach (var (id, p) in batches)
            if (now - p.SentAt > timeout)
            {
                p.SentAt = now;
                list.Add((id, p.Models.ToArray()));
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
