using CadStream.Imaging;
using System.Diagnostics;
using System.Text;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Ingress.Producing;
using CadStream.Records;
using Confluent.Kafka;
using Xunit.Abstractions;
using static CadStream.Tests.Ingress.IngressTestKit;
using static CadStream.Tests.Ingress.Kafka.KafkaTestKit;

namespace CadStream.Tests.Ingress.Kafka;

/// <summary>Ingress on the real Kafka wire: the embedded broker, separate clients, kcat.</summary>
public sealed class KafkaWireTests(ITestOutputHelper output)
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public void Embedded_kafka_creates_its_topics_with_their_partitions()
    {
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 3, Topics = ["cad.pairs", "cad.pairs.dlq", "extra"] });
        Assert.Matches(@"^(127\.0\.0\.1|localhost):\d+$", kafka.BootstrapServers);
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = kafka.BootstrapServers }).Build();
        var metadata = admin.GetMetadata(TimeSpan.FromSeconds(10));
        foreach (var name in new[] { "cad.pairs", "cad.pairs.dlq", "extra" })
        {
            var topic = Assert.Single(metadata.Topics, t => t.Topic == name);
            Assert.Equal(3, topic.Partitions.Count);
        }
    }

    [Fact]
    public async Task Good_pairs_reach_the_sink_and_bad_records_go_to_the_dlq_unchanged()
    {
        using var kafka = EmbeddedKafka.Start();
        var sink = new RecordingSink();
        double acceptedBefore = IngressMetrics.Accepted.Value, rejectedBefore = IngressMetrics.Rejected.Value;
        using var consumer = StartConsumer(kafka, sink, output);
        using var producer = RawProducer(kafka);

        // One key: one partition, so the good pairs after the bad records prove the consumer went on.
        var malformed = Encoding.UTF8.GetBytes("""{"id": "broken", "label": 3""");
        var spaceship = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(GoodJson("alien")).Replace("\"label\":3", "\"label\":\"Spaceship\""));
        Assert.Contains("Spaceship", Encoding.UTF8.GetString(spaceship));
        var sent = new List<(string Id, TopicPartitionOffset At)>
        {
            ("good-1", Send(producer, "k", GoodJson("good-1", label: 1))),
            ("broken", Send(producer, "k", malformed, new Headers { { "trace", "abc"u8.ToArray() } })),
            ("good-2", Send(producer, "k", GoodJson("good-2", label: 2))),
            ("alien", Send(producer, "k", spaceship)),
            ("good-3", Send(producer, "k", GoodJson("good-3", label: 3))),
            ("good-4", Send(producer, "k", GoodJson("good-4", label: 4))),
        };

        await WaitUntil(() => sink.Count == 4 && consumer.DeadLettered == 2, Patience,
            () => $"4 pairs and 2 dead letters (have {sink.Count}, {consumer.DeadLettered})");
        Assert.Equal(["good-1", "good-2", "good-3", "good-4"], sink.Pairs.Select(p => p.Id));
        Assert.Equal([1, 2, 3, 4], sink.Pairs.Select(p => p.Label));
        Assert.Equal(sent.Where(s => s.Id.StartsWith("good")).Select(s => s.At.Offset.Value), sink.Pairs.Select(p => p.Position.Offset));
        Assert.Equal((4, 2), (consumer.Accepted, consumer.Rejected));
        Assert.True(IngressMetrics.Accepted.Value - acceptedBefore >= 4);
        Assert.True(IngressMetrics.Rejected.Value - rejectedBefore >= 2);

        var dlq = ReadTopic(kafka, IngressTopics.DeadLetters, 2, Patience).OrderBy(r => Header(r, "cad-source")).ToList();
        Assert.Equal(2, dlq.Count);
        var brokenAt = sent.Single(s => s.Id == "broken").At;
        var alienAt = sent.Single(s => s.Id == "alien").At;
        Assert.Equal(malformed, dlq[0].Message.Value);
        Assert.Equal("k"u8.ToArray(), dlq[0].Message.Key);
        Assert.StartsWith("malformed JSON: ", Header(dlq[0], "cad-error"));
        Assert.Equal($"cad.pairs/{brokenAt.Partition.Value}/{brokenAt.Offset.Value}", Header(dlq[0], "cad-source"));
        Assert.Equal("abc", Header(dlq[0], "trace")); // the record's own headers stay
        Assert.Equal(spaceship, dlq[1].Message.Value);
        Assert.Equal("unknown label 'Spaceship'", Header(dlq[1], "cad-error"));
        Assert.Equal($"cad.pairs/{alienAt.Partition.Value}/{alienAt.Offset.Value}", Header(dlq[1], "cad-source"));

        // Lag of the partition read to its end drops to zero.
        var tp = brokenAt.TopicPartition;
        await WaitUntil(() => consumer.Lag.TryGetValue(tp, out var l) && l == 0, Patience, () => $"lag 0 on {tp} (have {string.Join(", ", consumer.Lag)})");
        Assert.Contains(tp, consumer.Assignment);
        await consumer.StopAsync();
        Assert.True(consumer.Completion.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task Kcat_as_a_foreign_producer_feeds_the_consumer()
    {
        using var kafka = EmbeddedKafka.Start();
        var sink = new RecordingSink();
        using var consumer = StartConsumer(kafka, sink, output);

        var png = Convert.ToBase64String(Png.Encode(GreyPixels(4), 28, 28));
        var u8 = Convert.ToBase64String(GreyPixels(5));
        var lines = new[]
        {
            $$"""{"id": "kcat-1", "image_png": "{{png}}", "label": 7, "coherence": 1}""",
            $$"""{"id": "kcat-2", "image_png": "{{png}}", "label": "Ankle boot", "coherence": 0.5}""",
            $$"""{"id": "kcat-3", "image_u8": "{{u8}}", "width": 28, "height": 28, "channels": 1, "label": "Coat"}""",
            "this line is not JSON",
        };
        var psi = new ProcessStartInfo("kcat") { RedirectStandardInput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-P", "-b", kafka.BootstrapServers, "-t", IngressTopics.Pairs }) psi.ArgumentList.Add(arg);
        Process kcat;
        try { kcat = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException("kcat is not installed: run scripts/setup.sh test (apt-get install -y kcat)", e); }
        using (kcat)
        {
            var stderr = kcat.StandardError.ReadToEndAsync();
            foreach (var line in lines) await kcat.StandardInput.WriteLineAsync(line);
            kcat.StandardInput.Close();
            Assert.True(kcat.WaitForExit(30_000), "kcat did not finish");
            Assert.True(kcat.ExitCode == 0, $"kcat failed: {await stderr}");
        }

        await WaitUntil(() => sink.Count == 3 && consumer.DeadLettered == 1, Patience,
            () => $"3 pairs and 1 dead letter (have {sink.Count}, {consumer.DeadLettered})");
        var byId = sink.Pairs.ToDictionary(p => p.Id);
        Assert.Equal(7, byId["kcat-1"].Label);
        Assert.Equal(9, byId["kcat-2"].Label);
        Assert.Equal(0.5f, byId["kcat-2"].Coherence);
        Assert.Equal(4, byId["kcat-3"].Label);
        Assert.Equal(GreyPixels(5), byId["kcat-3"].Pixels);
        var dead = Assert.Single(ReadTopic(kafka, IngressTopics.DeadLetters, 1, Patience));
        Assert.Equal("this line is not JSON", Encoding.UTF8.GetString(dead.Message.Value!));
    }
}
