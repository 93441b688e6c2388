using System.Text;
using CadStream.Ingress.Kafka;
using CadStream.Records;
using Confluent.Kafka;

namespace CadStream.Ingress.Producing;

/// <summary>
/// Sends pairs to a topic (default cad.pairs) as JSON or protobuf records keyed by the pair id.
/// Delivery is asynchronous; <see cref="Delivered"/> and <see cref="Failed"/> count the reports.
/// </summary>
public sealed class PairProducer : IDisposable
{
    private readonly IProducer<string?, byte[]> producer;
    private long sent, delivered, failed;
    private volatile string? lastError;
    private volatile string? lastClientError, lastAuthError;

    public string Topic { get; }
    public PairFormat Format { get; }
    public string BootstrapServers { get; }

    /// <param name="extraConfig">Pass-through librdkafka settings (security, tuning), see <see cref="ConfigFor"/>.</param>
    public PairProducer(string bootstrapServers, string topic = IngressTopics.Pairs, PairFormat format = PairFormat.Json,
        TimeSpan? deliveryTimeout = null, IReadOnlyDictionary<string, string>? extraConfig = null)
    {
        BootstrapServers = bootstrapServers;
        Topic = topic;
        Format = format;
        try
        {
            producer = new ProducerBuilder<string?, byte[]>(ConfigFor(bootstrapServers, deliveryTimeout, extraConfig))
                .SetLogHandler((_, _) => { })
                // Kept for CheckReachable: "SASL authentication error: ..." says more than a time-out.
                // A refused login says more than the "brokers are down" lines that follow it: it is kept.
                .SetErrorHandler((_, e) =>
                {
                    bool auth = e.Code is ErrorCode.Local_Authentication or ErrorCode.SaslAuthenticationFailed
                                || e.Reason.Contains("SASL", StringComparison.Ordinal) || e.Reason.Contains("SSL", StringComparison.Ordinal);
                    if (auth || lastAuthError is null) lastClientError = e.Reason;
                    if (auth) lastAuthError = e.Reason;
                })
                .Build();
        }
        catch (Exception e) when (e is KafkaException or ArgumentException)
        {
            throw KafkaClientSettings.Explain(e, extraConfig);
        }
    }

    /// <summary>
    /// The producer's librdkafka settings: acks=all, the pass-through <paramref name="extraConfig"/> (security,
    /// tuning: <c>Kafka:Client</c>, `produce --kafka-config`) over the tuning defaults; keys the engine owns are
    /// refused (<see cref="KafkaClientSettings.EngineOwned"/>).
    /// </summary>
    public static ProducerConfig ConfigFor(string bootstrapServers, TimeSpan? deliveryTimeout = null, IReadOnlyDictionary<string, string>? extraConfig = null)
    {
        var config = new ProducerConfig
        {
            ClientId = "cadstream-produce",
            LingerMs = 5,
            MessageTimeoutMs = (int)(deliveryTimeout ?? TimeSpan.FromSeconds(30)).TotalMilliseconds,
        };
        KafkaClientSettings.ApplyTo(config, extraConfig);
        config.BootstrapServers = bootstrapServers;
        config.Acks = Acks.All;
        return config;
    }

    public long Sent => Interlocked.Read(ref sent);
    public long Delivered => Interlocked.Read(ref delivered);
    public long Failed => Interlocked.Read(ref failed);
    public string? LastError => lastError;

    /// <summary>Fails with a KafkaException when no broker answers within <paramref name="timeout"/>.</summary>
    public void CheckReachable(TimeSpan timeout)
    {
        using var admin = new DependentAdminClientBuilder(producer.Handle).Build();
        Metadata metadata;
        try { metadata = admin.GetMetadata(timeout); }
        catch (KafkaException e) when (lastClientError is { } client)
        {
            throw new KafkaException(new Error(e.Error.Code, $"{e.Error.Reason}; {client}"));
        }
        if (metadata.Brokers.Count == 0)
            throw new KafkaException(new Error(ErrorCode.Local_Transport, $"no broker answered at {BootstrapServers}{(lastClientError is { } c ? $"; {c}" : "")}"));
    }

    /// <summary>Queues one pair for sending; waits briefly when the local queue is full.</summary>
    public void Produce(PairRecord pair, CancellationToken cancel = default)
    {
        var message = new Message<string?, byte[]>
        {
            Key = pair.Id,
            Value = PairRecords.Encode(pair, Format),
            Headers = new Headers { { PairRecords.ContentTypeHeader, Encoding.UTF8.GetBytes(PairRecords.ContentType(Format)) } },
        };
        while (true)
        {
            try
            {
                producer.Produce(Topic, message, OnDelivery);
                Interlocked.Increment(ref sent);
                return;
            }
            catch (ProduceException<string?, byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                cancel.ThrowIfCancellationRequested();
                Thread.Sleep(10);
            }
        }
    }

    /// <summary>Each delivery report: the record's key (its id) and whether the broker acknowledged it (`produce --resume`).</summary>
    public event Action<string?, bool>? Acknowledged;

    void OnDelivery(DeliveryReport<string?, byte[]> report)
    {
        Acknowledged?.Invoke(report.Message.Key, !report.Error.IsError);
        if (report.Error.IsError)
        {
            Interlocked.Increment(ref failed);
            lastError = report.Error.Reason;
        }
        else Interlocked.Increment(ref delivered);
    }

    /// <summary>Waits until every queued pair has a delivery report; returns how many are still outstanding.</summary>
    public int Flush(TimeSpan timeout) => producer.Flush(timeout);

    public void Dispose() => producer.Dispose();
}
