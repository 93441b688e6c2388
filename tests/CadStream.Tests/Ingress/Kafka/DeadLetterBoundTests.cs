using System.Text;
using CadStream.Host.Cluster;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Runtime;
using Confluent.Kafka;
using Xunit.Abstractions;
using static CadStream.Tests.Ingress.IngressTestKit;
using static CadStream.Tests.Ingress.Kafka.KafkaTestKit;

namespace CadStream.Tests.Ingress.Kafka;

/// <summary>
/// The dead-letter path cannot stall ingest: a rejected record too large for the DLQ producer is copied cut
/// (header cad-truncated), its echoed field shortened in cad-error; a DLQ that keeps refusing gives the record
/// up after the bounded tries, counted and reported for /healthz, and the commit point passes it.
/// </summary>
public sealed class DeadLetterBoundTests(ITestOutputHelper output)
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>A record of exactly <paramref name="bytes"/> bytes naming an unknown model of about that length.</summary>
    static byte[] UnknownModelRecord(int bytes)
    {
        var good = Encoding.UTF8.GetString(GoodJson("big"));
        const string field = "\"model\":\"\",";
        var json = "{" + field.Insert(9, new string('m', bytes - good.Length - field.Length)) + good[1..];
        var value = Encoding.UTF8.GetBytes(json);
        Assert.Equal(bytes, value.Length);
        return value;
    }

    [Fact]
    public async Task A_1040000_byte_invalid_record_is_dead_lettered_cut_and_the_stream_goes_on()
    {
        using var kafka = EmbeddedKafka.Start();
        var sink = new RecordingSink();
        using var consumer = StartConsumer(kafka, sink, output);
        // The DLQ producer keeps librdkafka's 1,000,000-byte message.max.bytes; this one may send more, as kcat -X can.
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig
        {
            BootstrapServers = kafka.BootstrapServers, Acks = Acks.All, MessageMaxBytes = 2_000_000,
        }).SetLogHandler((_, _) => { }).Build();

        var big = Send(producer, "k", UnknownModelRecord(1_040_000));
        await WaitUntil(() => consumer.DeadLettered == 1, Patience, () => $"the big record's DLQ copy (dead-lettered {consumer.DeadLettered}, failures {consumer.DeadLetterFailures})");
        // The commit point passed it: nothing after it waits for it.
        await WaitUntil(() => consumer.CommittedOffsets.GetValueOrDefault(big.TopicPartition, -1) == big.Offset.Value + 1, Patience,
            () => $"a commit past offset {big.Offset.Value}");
        Assert.Equal(big.Offset.Value + 1, CommittedOffset(kafka, big.TopicPartition));

        var after = new[] { Send(producer, "k", GoodJson("after-1", label: 1)), Send(producer, "k", GoodJson("after-2", label: 2)) };
        Assert.All(after, a => Assert.Equal(big.TopicPartition, a.TopicPartition));
        await WaitUntil(() => sink.Count == 2, Patience, () => $"the 2 pairs after the big record (have {sink.Count})");
        Assert.Equal(["after-1", "after-2"], sink.Pairs.Select(p => p.Id));
        Assert.Equal(0, consumer.DeadLetterFailures);

        var copy = Assert.Single(ReadTopic(kafka, IngressTopics.DeadLetters, 1, Patience));
        Assert.Equal("1040000", Header(copy, IngressTopics.TruncatedHeader));
        Assert.Equal(big.ToPosition().ToString(), Header(copy, IngressTopics.SourceHeader));
        var reason = Header(copy, IngressTopics.ErrorHeader);
        output.WriteLine($"DLQ copy: value {copy.Message.Value!.Length} bytes, cad-error '{reason}'");
        Assert.StartsWith("unknown model 'mmm", reason);
        Assert.True(reason.Length <= 100, $"cad-error is {reason.Length} characters");
        Assert.InRange(copy.Message.Value.Length, 900_000, 999_999); // under the DLQ producer's 1,000,000-byte message.max.bytes
        // The cut copy is the record's start, byte for byte.
        Assert.Equal(UnknownModelRecord(1_040_000)[..copy.Message.Value.Length], copy.Message.Value);
    }

    [Fact]
    public async Task A_dlq_that_keeps_refusing_is_reported_and_its_record_given_up_after_the_bounded_tries()
    {
        using var kafka = EmbeddedKafka.Start();
        var sink = new RecordingSink();
        var health = new NodeHealth(new RestartPolicy());
        var troubles = new List<string?>();
        double failuresBefore = IngressMetrics.DeadLetterFailures.Value;
        // The DLQ producer alone speaks TLS to the plaintext broker: every copy times out, as with a DLQ broker that is
        // unreachable or denies this client, while the consumer reads on.
        using var consumer = StartConsumer(kafka, sink, output, o => o with
        {
            DeadLetterAttempts = 3,
            DeadLetterRetryDelay = TimeSpan.FromMilliseconds(100),
            ProducerConfig = new Dictionary<string, string> { ["security.protocol"] = "ssl", ["message.timeout.ms"] = "1500" },
        });
        // The same wiring as IngressService: the consumer's trouble becomes the node's /healthz problem.
        consumer.DeadLetterTrouble += p => { lock (troubles) troubles.Add(p); health.Trouble(IngressService.DeadLetterPart, p); };
        using var producer = RawProducer(kafka);

        var bad = Send(producer, "k", Encoding.UTF8.GetBytes("""{"id": "broken", "label": 3"""));
        var good = Send(producer, "k", GoodJson("good", label: 1));
        await WaitUntil(() => consumer.DeadLetterFailures == 1, Patience, () => "the refused copy to be given up");
        await WaitUntil(() => sink.Count == 1, Patience, () => "the pair after it");
        Assert.Equal(0, consumer.DeadLettered);
        Assert.Equal(1, IngressMetrics.DeadLetterFailures.Value - failuresBefore);
        string? problem = health.Problem;
        Assert.NotNull(problem);
        Assert.Contains(IngressService.DeadLetterPart, problem);
        Assert.Contains($"{bad.Topic}/{bad.Partition.Value}/{bad.Offset.Value}", problem);
        lock (troubles) Assert.NotNull(Assert.Single(troubles));

        // Given up, the bad record no longer holds the commit point: once the pair after it is durable, the commit passes both.
        consumer.MarkDurable([good.ToPosition()]);
        await WaitUntil(() => consumer.CommittedOffsets.GetValueOrDefault(good.TopicPartition, -1) == good.Offset.Value + 1, Patience,
            () => $"a commit past offset {good.Offset.Value}");
    }
}
