using System.Text;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using Confluent.Kafka;
using Xunit.Abstractions;
using static CadStream.Tests.Ingress.IngressTestKit;
using static CadStream.Tests.Ingress.Kafka.KafkaTestKit;

namespace CadStream.Tests.Ingress.Kafka;

/// <summary>Commits follow durability, restarts redeliver what was not durable, a full sink pauses without loss.</summary>
public sealed class OffsetAndBackPressureTests(ITestOutputHelper output)
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    static readonly TopicPartition P0 = new(IngressTopics.Pairs, new Partition(0));

    /// <summary>Waits until the consumer's counter has moved on by <paramref name="more"/>: it had that many chances to act.</summary>
    static Task HadChances(PairConsumer consumer, Func<PairConsumer, long> counter, long more)
    {
        long from = counter(consumer);
        return WaitUntil(() => counter(consumer) >= from + more, Patience, () => $"{more} more rounds of the consumer (have {counter(consumer) - from})");
    }

    [Fact]
    public async Task Offsets_are_committed_only_when_durable_and_a_restart_redelivers_the_rest()
    {
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 1 });
        using (var producer = RawProducer(kafka))
            for (int i = 0; i < 10; i++)
                Send(producer, $"k{i}", i == 7 ? Encoding.UTF8.GetBytes("not a pair") : GoodJson($"pair-{i}", label: i % 10));

        var first = new RecordingSink();
        var consumer = StartConsumer(kafka, first, output);
        try
        {
            await WaitUntil(() => first.Count == 9 && consumer.DeadLettered == 1, Patience, () => $"9 pairs, 1 dead letter (have {first.Count}, {consumer.DeadLettered})");
            // Handed to the sink, dead letter acknowledged, but nothing durable: nothing committed, though the
            // consumer has looked for commits due twice since.
            await HadChances(consumer, c => c.CommitChecks, 2);
            Assert.Equal(Offset.Unset.Value, CommittedOffset(kafka, P0));
            Assert.Equal(10, consumer.InFlight);

            consumer.MarkDurableUpTo(new Dictionary<TopicPartition, long> { [P0] = 5 });
            await WaitUntil(() => CommittedOffset(kafka, P0) == 6, Patience, () => $"committed offset 6 (have {CommittedOffset(kafka, P0)})");
            Assert.Equal(6, consumer.CommittedOffsets[P0]);
        }
        finally { consumer.Dispose(); }
        Assert.Equal(6, CommittedOffset(kafka, P0));

        // A new consumer of the group gets 6.. again: pairs 6, 8, 9 and the bad record 7 once more.
        var second = new RecordingSink();
        using var again = StartConsumer(kafka, second, output);
        await WaitUntil(() => second.Count == 3 && again.DeadLettered == 1, Patience, () => $"3 pairs, 1 dead letter (have {second.Count}, {again.DeadLettered})");
        Assert.Equal(["pair-6", "pair-8", "pair-9"], second.Pairs.Select(p => p.Id));
        Assert.Equal([6L, 8, 9], second.Pairs.Select(p => p.Position.Offset));

        // 6 durable and 7 dead-lettered: the commit moves over both, and stops before 8.
        again.MarkDurableUpTo(new Dictionary<TopicPartition, long> { [P0] = 6 });
        await WaitUntil(() => CommittedOffset(kafka, P0) == 8, Patience, () => $"committed offset 8 (have {CommittedOffset(kafka, P0)})");
        again.MarkDurableUpTo(new Dictionary<TopicPartition, long> { [P0] = 9 });
        await WaitUntil(() => CommittedOffset(kafka, P0) == 10, Patience, () => $"committed offset 10 (have {CommittedOffset(kafka, P0)})");
        Assert.Equal(0, again.InFlight);
    }

    [Fact]
    public async Task A_full_sink_pauses_the_consumer_which_stays_in_its_group_and_loses_nothing()
    {
        using var kafka = EmbeddedKafka.Start();
        var sink = new RecordingSink { Refuse = true };
        int revocations = 0;
        // A short poll interval: a paused consumer that stopped polling would be thrown out of the group.
        using var consumer = StartConsumer(kafka, sink, output, o => o with
        {
            ConsumerConfig = new Dictionary<string, string> { ["max.poll.interval.ms"] = "6000" },
        });
        consumer.PartitionsRevoked += _ => Interlocked.Increment(ref revocations);
        var ids = Enumerable.Range(0, 40).Select(i => $"bp-{i}").ToList();
        using (var producer = RawProducer(kafka))
            foreach (var id in ids) Send(producer, id, GoodJson(id, label: ids.IndexOf(id) % 10));

        await WaitUntil(() => consumer.IsPaused && sink.Refusals > 0, Patience, () => $"a paused consumer (paused {consumer.IsPaused}, refusals {sink.Refusals})");
        // Paused for longer than max.poll.interval.ms (the property under test is about that time), polling all along.
        var pausedFor = System.Diagnostics.Stopwatch.StartNew();
        long pollsAtPause = consumer.Polls;
        await WaitUntil(() => pausedFor.Elapsed > TimeSpan.FromMilliseconds(6000 + 1000) && consumer.Polls > pollsAtPause + 50, Patience,
            () => $"7 s paused with polls going on (have {pausedFor.Elapsed.TotalSeconds:F1} s, {consumer.Polls - pollsAtPause} polls)");
        Assert.Equal(0, sink.Count);
        Assert.True(consumer.IsPaused);
        Assert.Equal(0, revocations);
        Assert.Equal(4, consumer.Assignment.Count);
        Assert.False(consumer.Completion.IsCompleted);

        sink.Refuse = false;
        await WaitUntil(() => sink.Count >= 40, Patience, () => $"40 pairs (have {sink.Count})");
        // Read to the end of every partition, and polled on: a duplicate would have arrived by now.
        await WaitUntil(() => consumer.Lag.Count == 4 && consumer.Lag.Values.All(l => l == 0), Patience, () => $"no lag (have {string.Join(", ", consumer.Lag.Values)})");
        await HadChances(consumer, c => c.Polls, 10);
        Assert.Equal(40, sink.Count); // no duplicates
        Assert.Equal(ids.Order(), sink.Pairs.Select(p => p.Id).Order());
        Assert.Equal(40, sink.Pairs.Select(p => (p.Position.Partition, p.Position.Offset)).Distinct().Count());
        Assert.False(consumer.IsPaused);
        Assert.Equal(0, revocations);
    }

    [Fact]
    public async Task Too_many_undurable_records_pause_until_the_trainer_catches_up()
    {
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 1 });
        var sink = new RecordingSink();
        using var consumer = StartConsumer(kafka, sink, output, o => o with { MaxInFlight = 5 });
        using (var producer = RawProducer(kafka))
            for (int i = 0; i < 12; i++) Send(producer, "k", GoodJson($"m-{i}"));

        await WaitUntil(() => sink.Count == 5 && consumer.IsPaused, Patience, () => $"5 pairs and a pause (have {sink.Count}, paused {consumer.IsPaused})");
        await HadChances(consumer, c => c.Polls, 10);
        Assert.Equal(5, sink.Count);

        consumer.MarkDurableUpTo(new Dictionary<TopicPartition, long> { [P0] = 4 });
        await WaitUntil(() => sink.Count == 10, Patience, () => $"10 pairs (have {sink.Count})");
        consumer.MarkDurableUpTo(new Dictionary<TopicPartition, long> { [P0] = 9 });
        await WaitUntil(() => sink.Count == 12, Patience, () => $"12 pairs (have {sink.Count})");
        Assert.Equal(Enumerable.Range(0, 12).Select(i => $"m-{i}"), sink.Pairs.Select(p => p.Id));
    }
}
