using CadStream.Ingress.Kafka;
using Confluent.Kafka;

namespace CadStream.Tests.Ingress.Kafka;

/// <summary>The commit rule without Kafka: a commit never passes a record that is not handled.</summary>
public sealed class CommitLedgerTests
{
    static readonly TopicPartition P0 = new("cad.pairs", new Partition(0));
    static readonly TopicPartition P1 = new("cad.pairs", new Partition(1));

    static long Due(CommitLedger l, TopicPartition tp) =>
        l.CommitsDue().Where(o => o.TopicPartition == tp).Select(o => o.Offset.Value).DefaultIfEmpty(-1).Single();

    [Fact]
    public void Pairs_are_committable_only_up_to_the_durable_offset()
    {
        var l = new CommitLedger();
        l.Assign(P0);
        for (long o = 0; o < 10; o++) l.Track(P0, o, deadLetter: false);
        Assert.Equal(10, l.InFlight);
        Assert.Empty(l.CommitsDue());

        l.MarkDurableUpTo(P0, 5);
        Assert.Equal(6, Due(l, P0));
        Assert.Equal(4, l.InFlight);
        l.Committed(l.CommitsDue());
        Assert.Empty(l.CommitsDue());

        l.MarkDurableUpTo(P0, 3); // older marks change nothing
        Assert.Empty(l.CommitsDue());
        l.MarkDurableUpTo(P0, 9);
        Assert.Equal(10, Due(l, P0));
        Assert.Equal(0, l.InFlight);
    }

    [Fact]
    public void A_dead_letter_waits_for_its_ack_and_for_every_earlier_pair()
    {
        var l = new CommitLedger();
        l.Assign(P0);
        l.Track(P0, 0, false);
        var dlq = l.Track(P0, 1, deadLetter: true)!;
        l.Track(P0, 2, false);

        l.AcknowledgeDeadLetter(dlq);
        Assert.Empty(l.CommitsDue()); // offset 0 is not durable yet
        l.MarkDurableUpTo(P0, 0);
        Assert.Equal(2, Due(l, P0));  // 0 durable, 1 acknowledged, 2 not durable
        l.MarkDurableUpTo(P0, 2);
        Assert.Equal(3, Due(l, P0));
    }

    [Fact]
    public void A_durable_mark_does_not_pass_an_unacknowledged_dead_letter()
    {
        var l = new CommitLedger();
        l.Assign(P0);
        l.Track(P0, 0, false);
        var dlq = l.Track(P0, 1, deadLetter: true)!;
        l.Track(P0, 2, false);
        l.MarkDurableUpTo(P0, 2);
        Assert.Equal(1, Due(l, P0));
        l.AcknowledgeDeadLetter(dlq);
        Assert.Equal(3, Due(l, P0));
    }

    [Fact]
    public void Partitions_are_independent_and_revoking_drops_their_state()
    {
        var l = new CommitLedger();
        l.Assign(P0);
        l.Assign(P1);
        var dlq = l.Track(P0, 0, deadLetter: true)!;
        l.Track(P1, 7, false);
        l.MarkDurableUpTo(P1, 7);
        Assert.Equal(8, Due(l, P1));
        Assert.Equal(-1, Due(l, P0));

        l.Revoke(P0);
        l.Assign(P0); // back again, fresh: the old ack must not count
        Assert.False(l.IsCurrent(dlq));
        l.AcknowledgeDeadLetter(dlq);
        Assert.Equal(-1, Due(l, P0));
        l.MarkDurableUpTo(P0, 100); // nothing tracked there: nothing to commit
        Assert.Equal(-1, Due(l, P0));
    }

    [Fact]
    public void A_redelivered_offset_is_not_tracked_twice()
    {
        var l = new CommitLedger();
        l.Assign(P0);
        Assert.NotNull(l.Track(P0, 4, false));
        Assert.Null(l.Track(P0, 4, false));
        Assert.Null(l.Track(P0, 3, false));
        Assert.Equal(1, l.InFlight);
    }
}
