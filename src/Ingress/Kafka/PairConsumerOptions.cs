using Microsoft.Extensions.Logging;

namespace CadStream.Ingress.Kafka;

/// <summary>What a <see cref="PairConsumer"/> reads, where it dead-letters, and its bounds and cadences.</summary>
public sealed record PairConsumerOptions
{
    public required string BootstrapServers { get; init; }
    public string Topic { get; init; } = IngressTopics.Pairs;
    public string DeadLetterTopic { get; init; } = IngressTopics.DeadLetters;
    public string GroupId { get; init; } = IngressTopics.ConsumerGroup;
    /// <summary>
    /// Most records read but not yet committable (waiting to be durable); the consumer pauses
    /// above it. Keep it well above the pairs the trainer consumes between two snapshots, or
    /// both wait for each other.
    /// </summary>
    public int MaxInFlight { get; init; } = 100_000;
    public int SessionTimeoutMs { get; init; } = 10_000;
    public TimeSpan CommitInterval { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan LagInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>
    /// Tries to copy one rejected record to the DLQ before giving it up (counted, logged with its source
    /// position, reported by <see cref="PairConsumer.DeadLetterTrouble"/>), so a DLQ that keeps refusing cannot
    /// hold the commit point forever. The wait between tries doubles from <see cref="DeadLetterRetryDelay"/> up to 30 s.
    /// </summary>
    public int DeadLetterAttempts { get; init; } = 8;
    public TimeSpan DeadLetterRetryDelay { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>
    /// Pass-through librdkafka settings for the consumer and for the dead-letter producer (security, tuning;
    /// the node gives both <c>Kafka:Client</c>). Keys the engine owns are refused (<see cref="KafkaClientSettings.EngineOwned"/>).
    /// </summary>
    public IReadOnlyDictionary<string, string>? ConsumerConfig { get; init; }
    public IReadOnlyDictionary<string, string>? ProducerConfig { get; init; }
    /// <summary>Where warnings and errors go.</summary>
    public ILogger? Logger { get; init; }
}
