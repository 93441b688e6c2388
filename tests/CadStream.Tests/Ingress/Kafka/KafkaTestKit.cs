using System.Collections.Concurrent;
using System.Text;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using Confluent.Kafka;
using Xunit.Abstractions;
using static CadStream.Tests.Ingress.IngressTestKit;

namespace CadStream.Tests.Ingress.Kafka;

/// <summary>A sink that records what it takes and can be told to refuse (full).</summary>
public sealed class RecordingSink : IPairSink
{
    public readonly ConcurrentQueue<IncomingPair> Pairs = new();
    private int refusals;
    public volatile bool Refuse;

    public int Refusals => Volatile.Read(ref refusals);
    public int Count => Pairs.Count;

    public ValueTask<bool> OfferAsync(IncomingPair pair, CancellationToken cancel)
    {
        if (Refuse)
        {
            Interlocked.Increment(ref refusals);
            return new(false);
        }
        Pairs.Enqueue(pair);
        return new(true);
    }
}

/// <summary>Clients and waits for the tests on the embedded broker.</summary>
public static class KafkaTestKit
{
    public static PairConsumer StartConsumer(EmbeddedKafka kafka, IPairSink sink, ITestOutputHelper output,
        Func<PairConsumerOptions, PairConsumerOptions>? configure = null, PairDecoder? decoder = null)
    {
        var options = new PairConsumerOptions
        {
            BootstrapServers = kafka.BootstrapServers,
            SessionTimeoutMs = 6000,
            LagInterval = TimeSpan.FromMilliseconds(200),
            CommitInterval = TimeSpan.FromMilliseconds(100),
            Logger = new CadStream.Host.Cluster.LineLoggerProvider(line => Write(output, line)).CreateLogger("ingress"),
        };
        return new PairConsumer(configure?.Invoke(options) ?? options, decoder ?? TestDecoder, sink).Start();
    }

    static void Write(ITestOutputHelper output, string line)
    {
        try { output.WriteLine($"{DateTime.Now:HH:mm:ss.fff} {line}"); }
        catch (InvalidOperationException) { /* the test is over */ }
    }

    public static IProducer<byte[]?, byte[]?> RawProducer(EmbeddedKafka kafka) =>
        new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = kafka.BootstrapServers, Acks = Acks.All })
            .SetLogHandler((_, _) => { }).Build();

    /// <summary>Produces and waits for the broker's acknowledgement; returns where the record landed.</summary>
    public static TopicPartitionOffset Send(IProducer<byte[]?, byte[]?> producer, string key, byte[]? value, Headers? headers = null, string topic = IngressTopics.Pairs) =>
        producer.ProduceAsync(topic, new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(key), Value = value, Headers = headers })
            .GetAwaiter().GetResult().TopicPartitionOffset;

    /// <summary>Reads <paramref name="expected"/> records of a topic from the start, by assignment (no group join).</summary>
    public static List<ConsumeResult<byte[]?, byte[]?>> ReadTopic(EmbeddedKafka kafka, string topic, int expected, TimeSpan timeout)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = "test-reader-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Assign(Enumerable.Range(0, kafka.Options.Partitions)
            .Select(p => new TopicPartitionOffset(topic, new Partition(p), Offset.Beginning)));
        var records = new List<ConsumeResult<byte[]?, byte[]?>>();
        var deadline = DateTime.UtcNow + timeout;
        while (records.Count < expected && DateTime.UtcNow < deadline)
        {
            var r = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (r is not null && !r.IsPartitionEOF) records.Add(r);
        }
        // A little longer: more than expected would be a failure too.
        var extraUntil = DateTime.UtcNow + TimeSpan.FromMilliseconds(300);
        while (DateTime.UtcNow < extraUntil)
        {
            var r = consumer.Consume(TimeSpan.FromMilliseconds(100));
            if (r is not null && !r.IsPartitionEOF) records.Add(r);
        }
        consumer.Close();
        return records;
    }

    /// <summary>The committed offset of the ingress group for a partition, asked like any other client would.</summary>
    public static long CommittedOffset(EmbeddedKafka kafka, TopicPartition tp, string group = IngressTopics.ConsumerGroup)
    {
        using var checker = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = group,
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build();
        return checker.Committed([tp], TimeSpan.FromSeconds(10)).Single().Offset.Value;
    }

    public static async Task WaitUntil(Func<bool> condition, TimeSpan timeout, Func<string> what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"timed out after {timeout.TotalSeconds:F0} s waiting for {what()}");
            await Task.Delay(50);
        }
    }

    public static string Header(ConsumeResult<byte[]?, byte[]?> r, string name) =>
        r.Message.Headers.TryGetLastBytes(name, out var b) ? Encoding.UTF8.GetString(b) : "<missing>";
}
