using CadStream.Actors.Ingest;
using CadStream.Actors.Scoring;
using CadStream.Actors.Training;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using Confluent.Kafka;

namespace CadStream.Tests.Actors;

public class QuantileBinnerTests
{
    [Fact]
    public void Uniform_scores_fill_equal_frequency_bins()
    {
        var binner = new QuantileBinner(bins: 8, reservoirSize: 5000, seed: 1);
        var rng = new Random(2);
        for (int i = 0; i < 20_000; i++) binner.Observe(20 + 10 * rng.NextDouble());
        var counts = new int[8];
        for (int i = 0; i < 8000; i++) counts[(int)Math.Round(binner.Coherence(20 + 10 * rng.NextDouble()) * 7)]++;
        Assert.All(counts, c => Assert.InRange(c, 1000 - 120, 1000 + 120));
        var edges = binner.Edges();
        Assert.Equal(7, edges.Length);
        for (int b = 0; b < 7; b++) Assert.Equal(20 + 10 * (b + 1) / 8.0, edges[b], 0.2);
    }

    [Fact]
    public void Coherence_is_bin_over_k_minus_1_and_monotone()
    {
        var binner = new QuantileBinner(bins: 4);
        foreach (var s in Enumerable.Range(0, 400)) binner.Observe(s);
        Assert.Equal(0.0, binner.Coherence(-5));
        Assert.Equal(1.0, binner.Coherence(1000));
        Assert.Equal(1 / 3.0, binner.Coherence(150), 9);
        double last = -1;
        for (int s = 0; s < 400; s += 7) { var c = binner.Coherence(s); Assert.True(c >= last); last = c; }
    }

    [Fact]
    public void Skewed_stream_adapts_its_edges()
    {
        var binner = new QuantileBinner(bins: 2, reservoirSize: 1000, seed: 3);
        for (int i = 0; i < 1000; i++) binner.Observe(i % 2 == 0 ? 0.1 : 0.3);
        Assert.InRange(binner.Edges()[0], 0.1, 0.3);
        Assert.Throws<ArgumentException>(() => binner.Observe(double.NaN));
    }
}

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
