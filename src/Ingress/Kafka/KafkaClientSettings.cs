using Confluent.Kafka;

namespace CadStream.Ingress.Kafka;

/// <summary>
/// librdkafka properties the user passes through to every Kafka client of the engine (the ingress
/// consumer, its dead-letter producer, `cadstream produce`, the demo's producer): security
/// (<c>security.protocol</c>, <c>sasl.*</c>, <c>ssl.*</c>) and tuning. Two kinds of keys are treated apart:
/// <list type="bullet">
/// <item>keys the engine owns, whose value carries a guarantee or comes from another setting, are
/// refused with an error naming the key (never silently overridden; see <see cref="EngineOwned"/>);</item>
/// <item>keys holding secrets are never shown: <see cref="Redacted"/> replaces their values, and error
/// messages never carry them (<see cref="IsSecret"/>).</item>
/// </list>
/// Tuning keys the engine only gives a default for (<c>client.id</c>, <c>linger.ms</c>,
/// <c>session.timeout.ms</c>, ...) take the user's value.
/// </summary>
public static class KafkaClientSettings
{
    /// <summary>Shown instead of a secret value.</summary>
    public const string RedactedValue = "(redacted)";

    /// <summary>
    /// Keys the engine sets itself and that a pass-through setting must not change, with the reason:
    /// the bootstrap comes from its own setting, and the consumer's group and commit behaviour is what
    /// "a committed offset means reflected in a durable snapshot" rests on.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> EngineOwned = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["bootstrap.servers"] = "set Kafka:Bootstrap (or --bootstrap / --kafka) instead",
        ["metadata.broker.list"] = "set Kafka:Bootstrap (or --bootstrap / --kafka) instead",
        ["group.id"] = "the ingress group is cadstream-ingress (docs/interfaces.md)",
        ["enable.auto.commit"] = "offsets are committed only over pairs reflected in a stored snapshot",
        ["enable.auto.offset.store"] = "offsets are committed only over pairs reflected in a stored snapshot",
        ["auto.offset.reset"] = "a new group must read from the earliest record so nothing is skipped",
        ["enable.partition.eof"] = "the consumer loop relies on it being off",
        ["acks"] = "a record counts as delivered only when every in-sync replica has it",
        ["request.required.acks"] = "a record counts as delivered only when every in-sync replica has it",
        ["test.mock.num.brokers"] = "would replace the configured Kafka by an in-process mock cluster",
    };

    /// <summary>Whether a key holds a secret (passwords, private keys, tokens, JAAS or OAuth settings): its value is never shown.</summary>
    public static bool IsSecret(string key)
    {
        var k = key.ToLowerInvariant();
        return k.Contains("password") || k.Contains("secret") || k.Contains("token") || k.Contains("jaas")
               || k.StartsWith("ssl.key", StringComparison.Ordinal) || k.StartsWith("ssl_key", StringComparison.Ordinal)
               || k.Contains("oauthbearer.config") || k.Contains("credential") || k.Contains("private");
    }

    /// <summary>The settings as they may be shown (in /v1/status, on the console): secret values replaced.</summary>
    public static IReadOnlyDictionary<string, string> Redacted(IReadOnlyDictionary<string, string>? settings) =>
        (settings ?? new Dictionary<string, string>()).OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .ToDictionary(kv => kv.Key, kv => IsSecret(kv.Key) ? RedactedValue : kv.Value, StringComparer.Ordinal);

    /// <summary>
    /// Sets <paramref name="settings"/> on <paramref name="config"/> over the engine's defaults; throws
    /// <see cref="InvalidDataException"/> naming the first engine-owned or empty key.
    /// </summary>
    public static void ApplyTo(ClientConfig config, IReadOnlyDictionary<string, string>? settings)
    {
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            var k = key.Trim();
            if (k.Length == 0) throw new InvalidDataException("Kafka client setting with an empty name");
            if (EngineOwned.TryGetValue(k, out var why))
                throw new InvalidDataException($"Kafka client setting '{k}' is set by CadStream and cannot be overridden: {why}");
            config.Set(k, value);
        }
    }

    /// <summary>
    /// Checks the settings as librdkafka would when a client starts (unknown keys, bad values such as
    /// security.protocol=bogus, unreadable certificate files), without connecting anywhere: a mistake fails
    /// at start with one clear line instead of as a consumer that keeps restarting.
    /// </summary>
    public static void Check(IReadOnlyDictionary<string, string>? settings)
    {
        if (settings is null || settings.Count == 0) return;
        var config = new ProducerConfig { ClientId = "cadstream-config-check" };
        ApplyTo(config, settings);
        try
        {
            // No bootstrap servers: the client is built and torn down without opening a connection.
            using var probe = new ProducerBuilder<byte[], byte[]>(config).SetLogHandler((_, _) => { }).Build();
        }
        catch (Exception e) when (e is KafkaException or ArgumentException or InvalidOperationException)
        {
            throw Explain(e, settings);
        }
    }

    /// <summary>librdkafka's complaint about a setting as one line, with any secret value that might appear in it replaced.</summary>
    public static InvalidDataException Explain(Exception e, IReadOnlyDictionary<string, string>? settings)
    {
        var reason = (e is KafkaException k ? k.Error.Reason : e.Message).Split('\n')[0].Trim();
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
            if (IsSecret(key) && value.Length > 0) reason = reason.Replace(value, RedactedValue, StringComparison.Ordinal);
        return new InvalidDataException($"Kafka client settings: {reason}", e);
    }

    /// <summary>Parses KEY=VALUE (the value may hold '='), as kcat's -X takes it.</summary>
    public static KeyValuePair<string, string> ParseAssignment(string text)
    {
        int eq = text.IndexOf('=');
        // The text is not echoed: it may be a secret typed with the wrong separator.
        if (eq <= 0) throw new ArgumentException("expected KEY=VALUE, such as security.protocol=SASL_SSL");
        return new(text[..eq].Trim(), text[(eq + 1)..]);
    }
}
