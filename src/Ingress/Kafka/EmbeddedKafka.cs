using Confluent.Kafka;

namespace CadStream.Ingress.Kafka;

public sealed record EmbeddedKafkaOptions
{
    public int Brokers { get; init; } = 1;
    /// <summary>Partitions of each topic created at start.</summary>
    public int Partitions { get; init; } = 4;
    /// <summary>Topics created before anyone can subscribe.</summary>
    public IReadOnlyList<string> Topics { get; init; } = [IngressTopics.Pairs, IngressTopics.DeadLetters];
}

/// <summary>
/// An in-process Kafka-protocol broker: librdkafka's mock cluster (test.mock.num.brokers),
/// listening on loopback TCP ports, so any client (another process, kcat) can use it through
/// <see cref="BootstrapServers"/>. The cluster lives as long as the client that created it,
/// which this object owns; Dispose stops it. Limits (docs/architecture.md, "Measured facts"): each partition keeps
/// about 5 MiB, older records are deleted; no CreateTopics from clients.
/// </summary>
public sealed class EmbeddedKafka : IDisposable
{
    private readonly IProducer<byte[], byte[]> owner;
    private readonly IAdminClient admin;
    private bool disposed;

    public string BootstrapServers { get; }
    public EmbeddedKafkaOptions Options { get; }

    /// <summary>
    /// Unread records per partition a producer should stay under: about 1 MiB of JSON pairs, well inside
    /// the ~5 MiB a partition keeps before older records are deleted unread.
    /// </summary>
    public const long SafeLagPerPartition = 1000;

    private EmbeddedKafka(EmbeddedKafkaOptions options)
    {
        Options = options;
        if (options.Brokers < 1) throw new ArgumentException("an embedded cluster needs at least one broker");
        var config = new ProducerConfig { ClientId = "cadstream-embedded-kafka" };
        config.Set("test.mock.num.brokers", options.Brokers.ToString(System.Globalization.CultureInfo.InvariantCulture));
        owner = new ProducerBuilder<byte[], byte[]>(config).SetLogHandler((_, _) => { }).Build();
        try
        {
            admin = new DependentAdminClientBuilder(owner.Handle).Build();
            var metadata = admin.GetMetadata(TimeSpan.FromSeconds(10));
            if (metadata.Brokers.Count == 0) throw new InvalidOperationException("the mock cluster reported no brokers");
            BootstrapServers = string.Join(",", metadata.Brokers.Select(b => $"{b.Host}:{b.Port}"));
            foreach (var topic in options.Topics) CreateTopic(topic, options.Partitions);
        }
        catch
        {
            owner.Dispose();
            throw;
        }
    }

    /// <summary>Starts a mock cluster and creates the configured topics.</summary>
    public static EmbeddedKafka Start(EmbeddedKafkaOptions? options = null) => new(options ?? new EmbeddedKafkaOptions());

    /// <summary>Creates a topic (the mock cluster answers no CreateTopics request).</summary>
    public void CreateTopic(string topic, int partitions, int replicationFactor = 1)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (partitions < 1) throw new ArgumentOutOfRangeException(nameof(partitions), "a topic needs at least one partition");
        MockClusterNative.CreateTopic(owner.Handle, topic, partitions, Math.Min(replicationFactor, Options.Brokers));
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        admin.Dispose();
        owner.Dispose();
    }
}
