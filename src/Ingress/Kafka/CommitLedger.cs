using Confluent.Kafka;

namespace CadStream.Ingress.Kafka;

/// <summary>
/// The one bookkeeping of what may be committed. A committed offset promises that every record
/// before it is handled: a pair only once it is reported durable (reflected in a stored snapshot),
/// one record at a time (<see cref="MarkDurable(TopicPartition, long)"/>) or everything up to an
/// offset (<see cref="MarkDurableUpTo"/>); a rejected record once its dead-letter copy is
/// acknowledged or given up after every try. Records are tracked per partition in consumption order and the commit point moves
/// only over a handled prefix, so it never passes a record that is not yet reflected. Not
/// thread-safe: one owner (the consumer loop) calls it.
/// </summary>
public sealed class CommitLedger
{
    /// <summary>One tracked record; the token a dead-letter acknowledgement refers to.</summary>
    public sealed class Entry
    {
        internal Entry(PartitionState owner, long offset, bool deadLetter)
        {
            Owner = owner;
            Offset = offset;
            IsDeadLetter = deadLetter;
        }

        internal PartitionState Owner { get; }
        public long Offset { get; }
        public bool IsDeadLetter { get; }
        /// <summary>A dead letter's copy was acknowledged, or a pair was reported durable.</summary>
        public bool Handled { get; internal set; }
        public TopicPartition TopicPartition => Owner.TopicPartition;
    }

    internal sealed class PartitionState(TopicPartition tp)
    {
        public TopicPartition TopicPartition { get; } = tp;
        public readonly Queue<Entry> Pending = new();
        public readonly Dictionary<long, Entry> ByOffset = new();
        public long LastTracked = -1;
        public long DurableUpTo = -1;
        /// <summary>Next offset to commit (exclusive end of the handled prefix); -1 = none yet.</summary>
        public long Committable = -1;
        public long Committed = -1;
    }

    private readonly Dictionary<TopicPartition, PartitionState> partitions = new();

    /// <summary>Records tracked and not yet behind the commit point, over all partitions.</summary>
    public int InFlight { get; private set; }

    public IEnumerable<TopicPartition> Partitions => partitions.Keys;

    public bool IsAssigned(TopicPartition tp) => partitions.ContainsKey(tp);

    /// <summary>Starts tracking a newly assigned partition (fresh state).</summary>
    public void Assign(TopicPartition tp)
    {
        Revoke(tp);
        partitions[tp] = new PartitionState(tp);
    }

    /// <summary>Forgets a partition: its records will be delivered again to whoever owns it next.</summary>
    public void Revoke(TopicPartition tp)
    {
        if (partitions.Remove(tp, out var s)) InFlight -= s.Pending.Count;
    }

    /// <summary>
    /// Tracks a consumed record: a pair for the sink, or a rejected record bound for the DLQ.
    /// Returns null for an offset at or below one already tracked (a redelivery), which the
    /// earlier entry covers.
    /// </summary>
    public Entry? Track(TopicPartition tp, long offset, bool deadLetter)
    {
        if (!partitions.TryGetValue(tp, out var s))
        {
            s = new PartitionState(tp);
            partitions[tp] = s;
        }
        if (offset <= s.LastTracked) return null;
        s.LastTracked = offset;
        var e = new Entry(s, offset, deadLetter);
        s.Pending.Enqueue(e);
        s.ByOffset[offset] = e;
        InFlight++;
        Advance(s);
        return e;
    }

    /// <summary>A stored snapshot reflects every pair of <paramref name="tp"/> up to <paramref name="offsetInclusive"/>.</summary>
    public void MarkDurableUpTo(TopicPartition tp, long offsetInclusive)
    {
        if (!partitions.TryGetValue(tp, out var s)) return; // not ours (any more): the next owner re-reads
        if (offsetInclusive <= s.DurableUpTo) return;
        s.DurableUpTo = offsetInclusive;
        Advance(s);
    }

    /// <summary>A stored snapshot reflects the pair at <paramref name="offset"/> of <paramref name="tp"/>.</summary>
    public void MarkDurable(TopicPartition tp, long offset)
    {
        if (!partitions.TryGetValue(tp, out var s) || !s.ByOffset.TryGetValue(offset, out var e) || e.IsDeadLetter) return;
        e.Handled = true;
        Advance(s);
    }

    /// <summary>The dead-letter copy of <paramref name="entry"/> was acknowledged by the broker.</summary>
    public void AcknowledgeDeadLetter(Entry entry)
    {
        if (!IsCurrent(entry)) return;
        entry.Handled = true;
        Advance(entry.Owner);
    }

    /// <summary>
    /// The dead-letter copy of <paramref name="entry"/> was refused on every try: the record counts as handled
    /// so the commit point can pass it (the caller counts and logs it; the record stays in its topic).
    /// </summary>
    public void GiveUpDeadLetter(Entry entry) => AcknowledgeDeadLetter(entry);

    /// <summary>Whether <paramref name="entry"/> still belongs to a tracked partition (not revoked since).</summary>
    public bool IsCurrent(Entry entry) =>
        partitions.TryGetValue(entry.Owner.TopicPartition, out var s) && ReferenceEquals(s, entry.Owner);

    void Advance(PartitionState s)
    {
        while (s.Pending.TryPeek(out var e))
        {
            bool handled = e.Handled || (!e.IsDeadLetter && e.Offset <= s.DurableUpTo);
            if (!handled) break;
            s.Pending.Dequeue();
            s.ByOffset.Remove(e.Offset);
            InFlight--;
            s.Committable = e.Offset + 1;
        }
    }

    /// <summary>Offsets (next offset to read) that are committable and not yet committed.</summary>
    public IReadOnlyList<TopicPartitionOffset> CommitsDue() =>
        partitions.Values.Where(s => s.Committable > s.Committed)
            .Select(s => new TopicPartitionOffset(s.TopicPartition, new Offset(s.Committable))).ToArray();

    /// <summary>The broker accepted these commits.</summary>
    public void Committed(IEnumerable<TopicPartitionOffset> offsets)
    {
        foreach (var o in offsets)
            if (partitions.TryGetValue(o.TopicPartition, out var s) && o.Offset.Value > s.Committed)
                s.Committed = o.Offset.Value;
    }

    /// <summary>The commit point of a partition (next offset to read), or -1 if nothing is committable yet.</summary>
    public long CommittableOffset(TopicPartition tp) => partitions.TryGetValue(tp, out var s) ? s.Committable : -1;
}
