using CadStream.Actors.Ingest;
using CadStream.Actors.Scoring;
using CadStream.Actors.Training;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using Confluent.Kafka;

namespace CadStream.Tests.Actors.Scoring;

public class ReplayBufferTests
{
    [Fact]
    public void Fresh_pairs_come_first_then_batches_mix_in_replay()
    {
        var buffer = new ReplayBuffer<int>(capacity: 100, seed: 1);
        for (int i = 0; i < 64; i++) buffer.Add(i);
        var first = buffer.NextBatch(32, 0.5)!;
        Assert.Equal(Enumerable.Range(0, 32), first);           // buffer still small: all fresh
        var second = buffer.NextBatch(32, 0.5)!;
        Assert.Equal(32, second.Count);
        Assert.Equal(16, second.Count(x => x >= 32));            // 16 fresh
        Assert.Equal(16, second.Count(x => x < 32));             // 16 replayed from what was trained
        Assert.Equal(16, buffer.FreshCount);
    }

    [Fact]
    public void No_fresh_pairs_means_no_batch_and_capacity_is_bounded()
    {
        var buffer = new ReplayBuffer<int>(capacity: 50);
        Assert.Null(buffer.NextBatch(8, 0.5));
        for (int i = 0; i < 500; i++) buffer.Add(i);
        while (buffer.NextBatch(10, 0.5) is not null) { }
        Assert.Equal(50, buffer.Count);
        Assert.Equal(0, buffer.FreshCount);
    }
}

/// <summary>
/// The ingest side of durability: <see cref="BatchLedger"/> says when a batch is stored by every model
/// it went to, and the consumer's <see cref="CommitLedger"/> (the one commit bookkeeping) moves the
/// commit point only over a prefix of handled records.
/// </summary>
public class BatchDurabilityTests
{
    static RecordPosition S(int p, long o) => new("cad.pairs", p, o);
    static readonly TopicPartition P0 = new("cad.pairs", new Partition(0));

    static long Committable(CommitLedger l) => l.CommittableOffset(P0) < 0 ? 0 : l.CommittableOffset(P0);

    [Fact]
    public void Commit_waits_for_every_model_and_every_earlier_offset()
    {
        var t = new BatchLedger();
        var commits = new CommitLedger();
        commits.Assign(P0);
        for (long o = 0; o <= 3; o++) commits.Track(P0, o, deadLetter: false);
        var dlq = commits.Track(P0, 4, deadLetter: true)!;
        void Mark(IReadOnlyList<RecordPosition> done) { foreach (var p in done) commits.MarkDurable(P0, p.Offset); }
        var now = DateTime.UtcNow;
        Mark(t.Dispatched(1, [S(0, 0), S(0, 1)], ["cad", "baseline"], now));
        Mark(t.Dispatched(2, [S(0, 2), S(0, 3)], ["cad", "baseline"], now));
        Assert.Equal(0, Committable(commits));
        Mark(t.Durable("cad", [1, 2]));
        Assert.Equal(0, Committable(commits));      // baseline has not stored them yet
        Mark(t.Durable("baseline", [2]));
        Assert.Equal(0, Committable(commits));      // batch 1 (offsets 0, 1) still open
        Mark(t.Durable("baseline", [1]));
        Assert.Equal(4, Committable(commits));
        commits.AcknowledgeDeadLetter(dlq);          // a dead-lettered record
        Assert.Equal(5, Committable(commits));
        Assert.Equal(0, t.PendingBatches);
    }

    [Fact]
    public void Overdue_batches_are_reported_once_per_timeout_and_forget_drops_a_partition()
    {
        var t = new BatchLedger();
        var now = DateTime.UtcNow;
        t.Dispatched(7, [S(1, 10)], ["cad"], now);
        Assert.Empty(t.Overdue(now.AddSeconds(5), TimeSpan.FromSeconds(30)));
        var overdue = t.Overdue(now.AddSeconds(31), TimeSpan.FromSeconds(30));
        Assert.Equal(7, Assert.Single(overdue).BatchId);
        Assert.Empty(t.Overdue(now.AddSeconds(40), TimeSpan.FromSeconds(30)));
        t.Forget("cad.pairs", 1);
        Assert.Equal(0, t.PendingBatches);
        Assert.Empty(t.Durable("cad", [7]));
    }
}
