using CadStream.Ingress.Kafka;

namespace CadStream.Host.Configuration;

public sealed record KafkaSettings
{
    /// <summary>HOST:PORT of a Kafka cluster; empty = the embedded broker (demo only).</summary>
    public string Bootstrap { get; init; } = "";
    public string Topic { get; init; } = "cad.pairs";
    public string DeadLetterTopic { get; init; } = "cad.pairs.dlq";
    public int Partitions { get; init; } = 4;
    /// <summary>
    /// Tries to copy one rejected record to the DLQ (waits doubling from 1 s to 30 s) before it is given up:
    /// counted in cad_ingest_dead_letter_failures_total, shown by /healthz, its offset committed past.
    /// </summary>
    public int DeadLetterAttempts { get; init; } = 8;
    /// <summary>
    /// librdkafka properties for every Kafka client of the engine (the ingress consumer, its dead-letter
    /// producer, `cadstream produce`, the demo's producer): <c>security.protocol</c>, <c>sasl.mechanisms</c>,
    /// <c>sasl.username</c>, <c>sasl.password</c>, <c>ssl.ca.location</c>, tuning. Keys CadStream owns
    /// (bootstrap, group, commits; <see cref="KafkaClientSettings.EngineOwned"/>) are refused; secret values are
    /// never shown (<see cref="KafkaClientSettings.Redacted"/>). An environment variable may write '_' for '.'
    /// (<c>CADSTREAM__Kafka__Client__sasl_password</c>), since shells take no dots in variable names.
    /// </summary>
    public Dictionary<string, string> Client { get; init; } = new(StringComparer.Ordinal);

    /// <summary><see cref="Client"/> with librdkafka's key spelling ('_' read as '.'), checked for keys CadStream owns.</summary>
    public IReadOnlyDictionary<string, string> ClientProperties()
    {
        var properties = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in Client)
        {
            var name = key.Trim().Replace('_', '.');
            if (!properties.TryAdd(name, value ?? ""))
                throw new InvalidDataException($"Kafka:Client names '{name}' twice (once with '_' for '.')");
        }
        KafkaClientSettings.ApplyTo(new Confluent.Kafka.ClientConfig(), properties);
        return properties;
    }
}
