using System.Globalization;
using CadStream.Catalog;
using CadStream.Data;
using CadStream.Data.Captions;
using CadStream.Host.Cli;
using CadStream.Host.Commands.Conditions;
using CadStream.Host.Configuration;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Ingress.Producing;
using CadStream.Records;
using Confluent.Kafka;

namespace CadStream.Host.Commands;

/// <summary>
/// `cadstream produce`: streams label-noised Fashion-MNIST pairs into a Kafka topic; with
/// <c>--condition text</c> each pair also carries a generated caption (docs/captions.md).
/// </summary>
public sealed class ProduceCommand : ICommand
{
    public string Name => "produce";
    public string Summary => "Push label-noised Fashion-MNIST pairs (PNG, label, coherence; or label and caption), or with --from the user's own data (WebDataset, Parquet, folders, manifests), to a Kafka topic.";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("bootstrap", "Kafka bootstrap servers", "127.0.0.1:9092", ValueName: "HOST:PORT"),
        new("topic", "topic to write", IngressTopics.Pairs, ValueName: "NAME"),
        new("dataset", "data set: fashion-mnist", "fashion-mnist", ValueName: "NAME"),
        new("condition", $"{ConditionKinds.Vocabulary} (aliases label, caption): class: image-label pairs with the label noise's coherence; text: each pair also carries a generated caption (and no coherence), for text and class models", "class", ValueName: "KIND"),
        new("noise", "label noise: none | entropy | temperature", "entropy", ValueName: "KIND"),
        new("beta", "temperature of the temperature protocol", "0.5", ValueName: "B"),
        new("classifier", "classifier file for --noise temperature (cadstream train-classifier)", ValueName: "FILE"),
        new("caption-wrong", "--condition text: share of captions that name a wrong class", "0.2", ValueName: "SHARE"),
        new("caption-none", "--condition text: share of captions that name no class (web clutter only)", "0.1", ValueName: "SHARE"),
        new("count", "pairs to send; 0 = until Ctrl-C", "1000", ValueName: "N"),
        new("rate", "pairs per second; 0 = as fast as possible", "0", ValueName: "R"),
        new("format", "record format: json | protobuf", "json", ValueName: "FMT"),
        new("seed", "seed of the image selection, the label noise and the captions", "0", ValueName: "S"),
        new("model", "model id written into each pair (default: every model of the pair's condition kinds)", ValueName: "ID"),
        new("kafka-config", "a librdkafka property, such as security.protocol=SASL_SSL or sasl.username=NAME; repeatable, like kcat -X; over Kafka:Client of the configuration",
            ValueName: "KEY=VALUE", Repeatable: true),
        new("config", "configuration file whose Kafka:Client settings (security) the producer uses", "config/cadstream.json beside the executable", ValueName: "FILE"),
        .. ProduceFrom.Options,
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        var bootstrap = a.RequireString("bootstrap").Trim();
        if (bootstrap.Length == 0) throw new UsageException("--bootstrap needs HOST:PORT");
        var topic = a.RequireString("topic").Trim();
        if (topic.Length == 0) throw new UsageException("--topic needs a name");
        // Options of the other input are refused, not ignored: a user who passed them meant something by them.
        string[] fromOnly = [.. ProduceFrom.Options.Select(o => o.Name).Where(n => n != "from")], datasetOnly = ["dataset", "noise", "beta", "classifier", "caption-wrong", "caption-none", "count", "condition"];
        if (a.Has("from"))
        {
            if (datasetOnly.FirstOrDefault(a.Has) is { } other)
                throw new UsageException($"--{other} is for --dataset, not --from{(other == "count" ? " (use --limit N)" : "")}");
            return RunFrom(a, bootstrap, topic, cancel);
        }
        if (fromOnly.FirstOrDefault(a.Has) is { } only) throw new UsageException($"--{only} needs --from PATH...");
        var dataset = a.RequireString("dataset").Trim().ToLowerInvariant();
        if (dataset != "fashion-mnist") throw new UsageException($"--dataset must be fashion-mnist (got '{dataset}')");
        var kind = a.Condition();
        var captionNoise = new CaptionNoise(a.Double("caption-wrong", 0, 1), a.Double("caption-none", 0, 1));
        try { captionNoise.Validate(); }
        catch (ArgumentException e) { throw new UsageException($"--caption-wrong and --caption-none: {e.Message}"); }
        var noise = a.Parse("noise", LabelNoise.ParseKind);
        double beta = a.Double("beta", 1e-6, 1e6);
        long count = a.Long("count", 0);
        double rate = a.Double("rate", 0, 1e7);
        var format = a.Parse("format", PairRecords.ParseFormat);
        int seed = a.Int("seed");
        var model = a.String("model");
        if (model is not null && model.Trim().Length == 0) throw new UsageException("--model needs a model id");
        string? classifier = a.String("classifier");
        if (noise == LabelNoiseKind.Temperature && classifier is null)
            throw new UsageException("--noise temperature needs --classifier FILE (make one with: cadstream train-classifier --out classifier.bin)");
        if (classifier is not null && !File.Exists(classifier))
            throw new UsageException($"classifier file '{classifier}' does not exist");

        var client = ClientSettings(a);

        var data = FashionMnist.Load(train: true);
        int size = count == 0 ? 0 : (int)Math.Min(count, data.Count);
        using var condition = CommandConditions.For(kind);
        var captions = condition.StreamCaptions(captionNoise, seed);
        var stream = FashionPairStream.Create(data, noise, beta, ClassifierFile.Logits(classifier), seed, size, model, captions);
        Console.Error.WriteLine($"data: {stream.Size} Fashion-MNIST training images, noise {noise.ToString().ToLowerInvariant()}: " +
                                $"{stream.WrongFraction:P1} of labels wrong" + (captions is null
                                    ? $", mean coherence {stream.MeanCoherence:F3}"
                                    : $"; captions: {captionNoise.WrongClass * 100:0.#}% name a wrong class, {captionNoise.NoClass * 100:0.#}% no class, no coherence (the scorers give it)"));

        using var producer = Connect(bootstrap, topic, format, client);
        Console.Error.WriteLine($"kafka: {bootstrap}{Security(client)}, topic {topic}, format {format.ToString().ToLowerInvariant()}, " +
                                $"{(count == 0 ? "until Ctrl-C" : $"{count} pairs")}{(rate > 0 ? $" at {rate.ToString(CultureInfo.InvariantCulture)} pairs/s" : "")}");

        var line = new ProgressLine();
        var summary = PairStreaming.Run(producer, stream.Pairs(count), count, rate,
            p => line.Update(Format(p)), cancel: cancel);
        line.Finish(Format(new ProduceProgress(summary.Sent, summary.Delivered, summary.Failed, count, summary.Elapsed)));

        double perSecond = summary.Elapsed.TotalSeconds > 0 ? summary.Delivered / summary.Elapsed.TotalSeconds : 0;
        Console.WriteLine($"produced {summary.Delivered} pairs to {topic} at {bootstrap} in {summary.Elapsed.TotalSeconds:F1} s " +
                          $"({perSecond:F0} pairs/s, {format.ToString().ToLowerInvariant()}): {summary.Delivered} delivered, {summary.Failed} failed" +
                          (summary.Sent > summary.Delivered + summary.Failed ? $", {summary.Sent - summary.Delivered - summary.Failed} unconfirmed" : ""));
        if (summary.Delivered < summary.Sent)
        {
            Console.Error.WriteLine($"cadstream produce: {summary.Sent - summary.Delivered} of {summary.Sent} pairs were not delivered ({summary.LastError ?? "no delivery report in time"})");
            return 1;
        }
        if (summary.Interrupted && count > 0)
        {
            Console.Error.WriteLine($"cadstream produce: interrupted after {summary.Sent} of {count} pairs");
            return 1;
        }
        return 0;
    }

    /// <summary>`--from`: the user's own data instead of a data set (ProduceFrom).</summary>
    int RunFrom(ParsedArgs a, string bootstrap, string topic, CancellationToken cancel)
    {
        double rate = a.Double("rate", 0, 1e7);
        var format = a.Parse("format", PairRecords.ParseFormat);
        var model = a.String("model");
        if (model is not null && model.Trim().Length == 0) throw new UsageException("--model needs a model id");
        var plan = ProduceFrom.Read(a, model?.Trim());
        var client = ClientSettings(a);
        using var producer = Connect(bootstrap, topic, format, client);
        Console.Error.WriteLine($"kafka: {bootstrap}{Security(client)}, topic {topic}, format {format.ToString().ToLowerInvariant()}" +
                                (rate > 0 ? $" at {rate.ToString(CultureInfo.InvariantCulture)} records/s" : ""));
        return ProduceFrom.Run(plan, producer, rate, cancel);
    }

    static PairProducer Connect(string bootstrap, string topic, PairFormat format, IReadOnlyDictionary<string, string> client)
    {
        var producer = new PairProducer(bootstrap, topic, format, extraConfig: client);
        try { producer.CheckReachable(TimeSpan.FromSeconds(10)); return producer; }
        catch (KafkaException e)
        {
            // A broker that answers but refuses the login or the TLS handshake needs other settings, not another broker.
            var hint = e.Error.Reason.Contains("SASL", StringComparison.Ordinal) || e.Error.Reason.Contains("SSL", StringComparison.Ordinal)
                ? "check the client's security settings (Kafka:Client, --kafka-config)"
                : "start a broker (cadstream demo embeds one) or pass --bootstrap HOST:PORT";
            producer.Dispose();
            throw new IOException($"cannot reach Kafka at {bootstrap} ({e.Error.Reason}); {hint}");
        }
    }

    /// <summary>
    /// Kafka:Client of the configuration (file and CADSTREAM__ variables, so a password can stay out of the
    /// command line), then each --kafka-config KEY=VALUE over it; checked as librdkafka would before any data is read.
    /// </summary>
    static IReadOnlyDictionary<string, string> ClientSettings(ParsedArgs a)
    {
        var fromArgs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var text in a.All("kafka-config"))
        {
            try
            {
                var kv = KafkaClientSettings.ParseAssignment(text);
                fromArgs[kv.Key] = kv.Value;
                KafkaClientSettings.ApplyTo(new Confluent.Kafka.ClientConfig(), new Dictionary<string, string> { [kv.Key] = kv.Value });
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException) { throw new UsageException($"--kafka-config: {e.Message}"); }
        }
        // A mistake in the configuration file is a failure (exit 1); one on the command line is bad usage (exit 2).
        var client = new Dictionary<string, string>(CadStreamSettings.Load(a.Has("config") ? a.RequireString("config") : null).Kafka.ClientProperties(), StringComparer.Ordinal);
        foreach (var (key, value) in fromArgs) client[key] = value;
        try { KafkaClientSettings.Check(client); }
        catch (InvalidDataException e) when (fromArgs.Count > 0) { throw new UsageException(e.Message); }
        return client;
    }

    /// <summary>The security protocol on the console line (never a secret).</summary>
    static string Security(IReadOnlyDictionary<string, string> client) =>
        client.TryGetValue("security.protocol", out var p) ? $" ({p}{(client.TryGetValue("sasl.mechanisms", out var m) || client.TryGetValue("sasl.mechanism", out m) ? " " + m : "")})" : "";

    static string Format(ProduceProgress p) =>
        $"sent {p.Sent}{(p.Target > 0 ? $"/{p.Target}" : "")}  delivered {p.Delivered}  failed {p.Failed}  {p.PairsPerSecond:F0} pairs/s";
}
