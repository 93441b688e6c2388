namespace CadStream.Actors.Ingest;

/// <summary>Where a record came from: Kafka topic, partition, offset.</summary>
public readonly record struct RecordSource(string Topic, int Partition, long Offset);

/// <summary>
/// Decides which Kafka offsets may be committed. A dispatched batch of pairs is durable once
/// every model it went to has stored a snapshot that reflects it; a partition's committable
/// offset is the highest offset below which every record is durable (or was handled otherwise,
/// e.g. sent to the dead-letter topic). Not thread-safe: one owner (an actor).
/// </summary>
public sealed class DurabilityTracker
{
    private sealed class Pending(RecordSource[] sources, HashSet<string> models, DateTime sentAt)
    {
        public RecordSource[] Sources { get; } = sources;
        public HashSet<string> Models { get; } = models;
        public DateTime SentAt { get; set; } = sentAt;
    }

    private readonly Dictionary<long, Pending> batches = new();
    // Per partition: offsets handed out but not yet durable, and durable ones above the watermark.
    private readonly Dictionary<(string, int), SortedSet<long>> open = new();
    private readonly Dictionary<(string, int), long> highestSeen = new();

    public int PendingBatches => batches.Count;
    public long PendingRecords => open.Values.Sum(s => (long)s.Count);

    /// <summary>Records a dispatched batch; models = the model ids it was sent to.</summary>
    public void Dispatched(long batchId, IReadOnlyList<RecordSource> sources, IEnumerable<string> models, DateTime now)
    {
        var set = new HashSet<string>(models);
        foreach (var s in sources) Open(s);
        if (set.Count == 0) { foreach (var s in sources) Close(s); return; }
        batches[batchId] = new Pending(sources.ToArray(), set, now);
    }

    /// <summary>A record that needs no training (rejected to the DLQ, or matched no model) is done once handled.</summary>
    public void Handled(RecordSource source)
    {
        Open(source);
        Close(source);
    }

    public bool IsPending(long batchId) => batches.ContainsKey(batchId);

    /// <summary>A model stored a snapshot reflecting these batches.</summary>
    public void Durable(string model, IEnumerable<long> batchIds)
    {
        foreach (var id in batchIds)
        {
            if (!batches.TryGetValue(id, out var p) || !p.Models.Remove(model) || p.Models.Count > 0) continue;
            batches.Remove(id);
            foreach (var s in p.Sources) Close(s);
        }
    }

    /// <summary>
    /// The offset to commit per partition (Kafka convention: the next offset to read), for
    /// partitions where it moved: everything below it is durable.
    /// </summary>
    public Dictionary<(string Topic, int Partition), long> Committable()
    {
        var result = new Dictionary<(string, int), long>();
        foreach (var (tp, high) in highestSeen)
        {
            var set = open.GetValueOrDefault(tp);
            long next = set is { Count: > 0 } ? set.Min : high + 1;
            result[tp] = next;
        }
        return result;
    }

    /// <summary>Batches not acknowledged within the timeout (their trainer may have died): send them again.</summary>
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
        open.Remove((topic, partition));
        highestSeen.Remove((topic, partition));
        foreach (var id in batches.Where(b => b.Value.Sources.Any(s => s.Topic == topic && s.Partition == partition)).Select(b => b.Key).ToList())
            batches.Remove(id);
    }

    private void Open(RecordSource s)
    {
        var key = (s.Topic, s.Partition);
        if (!open.TryGetValue(key, out var set)) open[key] = set = new SortedSet<long>();
        set.Add(s.Offset);
        highestSeen[key] = Math.Max(highestSeen.GetValueOrDefault(key, -1), s.Offset);
    }

    private void Close(RecordSource s)
    {
        if (open.TryGetValue((s.Topic, s.Partition), out var set)) set.Remove(s.Offset);
    }
}
