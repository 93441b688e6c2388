using CadStream.Host.Configuration;
using CadStream.Ingress.Kafka;
using CadStream.Ingress.Producing;
using CadStream.Tests.Host;
using Confluent.Kafka;
using Xunit.Abstractions;
using static CadStream.Tests.Ingress.IngressTestKit;
using static CadStream.Tests.Ingress.Kafka.KafkaTestKit;

namespace CadStream.Tests.Ingress.Kafka;

/// <summary>
/// Kafka:Client: librdkafka settings (security, tuning) reach every client of the engine, keys the
/// engine owns are refused, bad values fail with one clear line, and secrets are never shown.
/// </summary>
public sealed class KafkaClientSettingsTests(ITestOutputHelper output)
{
    static readonly Dictionary<string, string> Sasl = new()
    {
        ["security.protocol"] = "SASL_SSL",
        ["sasl.mechanisms"] = "PLAIN",
        ["sasl.username"] = "cad",
        ["sasl.password"] = "s3cret-pw",
        ["ssl.ca.location"] = "/etc/ssl/certs/ca-certificates.crt",
        ["client.id"] = "my-client",
    };

    static PairConsumerOptions Options(IReadOnlyDictionary<string, string>? client) =>
        new() { BootstrapServers = "broker:9092", ConsumerConfig = client, ProducerConfig = client };

    [Fact]
    public void The_settings_reach_the_consumer_the_dead_letter_producer_and_the_pair_producer()
    {
        ClientConfig[] configs =
        [
            PairConsumer.ConsumerConfigFor(Options(Sasl)),
            PairConsumer.DeadLetterConfigFor(Options(Sasl)),
            PairProducer.ConfigFor("broker:9092", extraConfig: Sasl),
        ];
        foreach (var config in configs)
        {
            foreach (var (key, value) in Sasl) Assert.Equal(value, config.Get(key));
            Assert.Equal("broker:9092", config.BootstrapServers);
        }
        // The engine's own settings stay as they are.
        var consumer = (ConsumerConfig)configs[0];
        Assert.Equal("cadstream-ingress", consumer.GroupId);
        Assert.False(consumer.EnableAutoCommit);
        Assert.False(consumer.EnableAutoOffsetStore);
        Assert.Equal(AutoOffsetReset.Earliest, consumer.AutoOffsetReset);
        Assert.Equal(Acks.All, ((ProducerConfig)configs[1]).Acks);
        Assert.Equal(Acks.All, ((ProducerConfig)configs[2]).Acks);
        // Without pass-through settings the defaults are the engine's.
        Assert.Equal("cadstream-ingress", PairConsumer.ConsumerConfigFor(Options(null)).ClientId);
        Assert.Null(PairConsumer.ConsumerConfigFor(Options(null)).Get("security.protocol"));
    }

    [Theory]
    [InlineData("group.id")]
    [InlineData("enable.auto.commit")]
    [InlineData("bootstrap.servers")]
    [InlineData("auto.offset.reset")]
    [InlineData("acks")]
    [InlineData("Enable.Auto.Offset.Store")]
    public void A_key_the_engine_owns_is_refused_naming_it(string key)
    {
        var client = new Dictionary<string, string> { [key] = "x" };
        foreach (var build in new Action[]
                 {
                     () => PairConsumer.ConsumerConfigFor(Options(client)),
                     () => PairConsumer.DeadLetterConfigFor(Options(client)),
                     () => PairProducer.ConfigFor("broker:9092", extraConfig: client),
                     () => KafkaClientSettings.Check(client),
                 })
        {
            var e = Assert.Throws<InvalidDataException>(build);
            Assert.Contains($"'{key}'", e.Message);
            Assert.Contains("cannot be overridden", e.Message);
        }
    }

    [Fact]
    public void A_bad_value_fails_with_one_clear_line_when_the_client_is_built()
    {
        var bogus = new Dictionary<string, string> { ["security.protocol"] = "bogus" };
        var check = Assert.Throws<InvalidDataException>(() => KafkaClientSettings.Check(bogus));
        output.WriteLine(check.Message);
        Assert.Contains("security.protocol", check.Message);
        Assert.Contains("bogus", check.Message);
        Assert.DoesNotContain('\n', check.Message);

        var producer = Assert.Throws<InvalidDataException>(() => new PairProducer("127.0.0.1:1", extraConfig: bogus));
        Assert.Contains("security.protocol", producer.Message);
        var consumer = Assert.Throws<InvalidDataException>(() => new PairConsumer(Options(bogus), TestDecoder, new RecordingSink()));
        Assert.Contains("security.protocol", consumer.Message);

        var unknown = Assert.Throws<InvalidDataException>(() => KafkaClientSettings.Check(new Dictionary<string, string> { ["sasl.mechanismz"] = "PLAIN" }));
        Assert.Contains("sasl.mechanismz", unknown.Message);
    }

    [Fact]
    public void Secrets_are_redacted_and_never_appear_in_an_error()
    {
        var shown = KafkaClientSettings.Redacted(new Dictionary<string, string>(Sasl)
        {
            ["ssl.key.password"] = "key-pw",
            ["ssl.key.pem"] = "-----BEGIN PRIVATE KEY-----",
            ["sasl.oauthbearer.client.secret"] = "oauth-secret",
        });
        Assert.Equal(KafkaClientSettings.RedactedValue, shown["sasl.password"]);
        Assert.Equal(KafkaClientSettings.RedactedValue, shown["ssl.key.password"]);
        Assert.Equal(KafkaClientSettings.RedactedValue, shown["ssl.key.pem"]);
        Assert.Equal(KafkaClientSettings.RedactedValue, shown["sasl.oauthbearer.client.secret"]);
        Assert.Equal("SASL_SSL", shown["security.protocol"]);
        Assert.Equal("cad", shown["sasl.username"]);

        // Whatever librdkafka says about a setting, a secret value in it is replaced.
        var e = KafkaClientSettings.Explain(new KafkaException(new Error(ErrorCode.Local_InvalidArg, "bad value \"s3cret-pw\" for sasl.password")), Sasl);
        Assert.DoesNotContain("s3cret-pw", e.Message);
        Assert.Contains(KafkaClientSettings.RedactedValue, e.Message);
    }

    [Fact]
    public void Configuration_files_and_environment_variables_fill_Kafka_Client()
    {
        var folder = Directory.CreateTempSubdirectory("cadstream-kafka-client-").FullName;
        var file = Path.Combine(folder, "cadstream.json");
        File.WriteAllText(file, """
            { "Kafka": { "Bootstrap": "kafka:9093", "Client": { "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "cad" } } }
            """);
        // Shells take no dots in variable names: '_' stands for '.'.
        var settings = CadStreamSettings.Load(file, [new("CADSTREAM__Kafka__Client__sasl_password", "from-env")]);
        var client = settings.Kafka.ClientProperties();
        Assert.Equal("SASL_SSL", client["security.protocol"]);
        Assert.Equal("SCRAM-SHA-512", client["sasl.mechanisms"]);
        Assert.Equal("from-env", client["sasl.password"]);

        File.WriteAllText(file, """{ "Kafka": { "Client": { "group.id": "mine" } } }""");
        var owned = Assert.Throws<InvalidDataException>(() => CadStreamSettings.Load(file).Kafka.ClientProperties());
        Assert.Contains("'group.id'", owned.Message);
    }

    /// <summary>
    /// End to end with the real librdkafka: the settings put a SASL/PLAIN login on the wire from the
    /// pair producer and from the ingress consumer (to a broker that refuses it), and the failure names
    /// SASL without the password.
    /// </summary>
    [Fact]
    public async Task Sasl_settings_reach_the_wire_from_the_producer_and_the_consumer()
    {
        using var broker = new SaslTestBroker();
        var sasl = new Dictionary<string, string>
        {
            ["security.protocol"] = "SASL_PLAINTEXT",
            ["sasl.mechanisms"] = "PLAIN",
            ["sasl.username"] = "cad-user",
            ["sasl.password"] = "cad-password",
        };
        using (var producer = new PairProducer(broker.Bootstrap, extraConfig: sasl))
        {
            var e = Assert.Throws<KafkaException>(() => producer.CheckReachable(TimeSpan.FromSeconds(5)));
            output.WriteLine(e.Error.Reason);
            Assert.Contains("SASL authentication", e.Error.Reason);
            Assert.DoesNotContain("cad-password", e.Error.Reason);
        }
        Assert.Contains(broker.Logins, l => l.ClientId == "cadstream-produce");
        var login = broker.Logins.First(l => l.ClientId == "cadstream-produce");
        Assert.Equal(("PLAIN", "cad-user", "cad-password"), (login.Mechanism, login.User, login.Password));

        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var options = new PairConsumerOptions
        {
            BootstrapServers = broker.Bootstrap,
            ConsumerConfig = sasl,
            ProducerConfig = sasl,
            Logger = new CadStream.Host.Cluster.LineLoggerProvider(lines.Enqueue).CreateLogger("ingress"),
        };
        using (var consumer = new PairConsumer(options, TestDecoder, new RecordingSink()).Start())
        {
            await WaitUntil(() => broker.Logins.Any(l => l.ClientId == "cadstream-ingress"), TimeSpan.FromSeconds(20),
                () => $"the consumer's login (seen: {string.Join(", ", broker.Logins.Select(l => l.ClientId))})");
            await WaitUntil(() => lines.Any(l => l.Contains("SASL authentication", StringComparison.Ordinal)), TimeSpan.FromSeconds(20),
                () => "the consumer to log the refused login");
        }
        Assert.All(broker.Logins, l => Assert.Equal(("cad-user", "cad-password"), (l.User, l.Password)));
        foreach (var line in lines) output.WriteLine(line);
        Assert.DoesNotContain(lines, l => l.Contains("cad-password", StringComparison.Ordinal));
    }

    /// <summary>`cadstream produce`: --kafka-config over Kafka:Client from the environment; mistakes are bad usage.</summary>
    [Fact]
    public void Produce_takes_kafka_config_and_the_environment_and_never_prints_the_password()
    {
        using var broker = new SaslTestBroker();
        var r = CliRunner.Run(["produce", "--bootstrap", broker.Bootstrap, "--count", "1",
                "--kafka-config", "security.protocol=SASL_PLAINTEXT", "--kafka-config", "sasl.mechanisms=PLAIN", "--kafka-config", "sasl.username=cli-user"],
            env: new Dictionary<string, string> { ["CADSTREAM__Kafka__Client__sasl_password"] = "env-password" }, timeoutSeconds: 120);
        output.WriteLine(r.Stderr);
        Assert.Equal(1, r.ExitCode);
        var error = Assert.Single(r.StderrLines, l => l.StartsWith("cadstream produce:", StringComparison.Ordinal));
        Assert.Contains("SASL authentication", error);
        Assert.Contains("Kafka:Client", error);
        Assert.DoesNotContain("env-password", r.Stdout + r.Stderr);
        Assert.Contains(broker.Logins, l => l is { User: "cli-user", Password: "env-password", Mechanism: "PLAIN" });
    }
}
