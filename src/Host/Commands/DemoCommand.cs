using CadStream.Catalog;
using CadStream.Data;
using CadStream.Data.Captions;
using CadStream.Host.Cli;
using CadStream.Host.Cluster;
using CadStream.Host.Configuration;
using CadStream.Ingress.Kafka;
using CadStream.Ingress.Producing;
using CadStream.Records;
using CadStream.Scoring;
using CadStream.Sources;

namespace CadStream.Host.Commands;

/// <summary>
/// `cadstream demo`: the whole system on one machine: an embedded Kafka-protocol broker, a
/// producer of label-noised Fashion-MNIST, a single-node cluster with every role training
/// fashion-cad and fashion-baseline side by side, snapshots, and the HTTP API and page. With <c>--from PATH...</c> the
/// user's own data replaces Fashion-MNIST (<see cref="DemoFrom"/>).
/// </summary>
public sealed class DemoCommand : ICommand
{
    public string Name => "demo";
    public string Summary => "Run the whole system on this machine: embedded broker, noisy Fashion-MNIST producer (or --from your own data), online training of two models, snapshots, HTTP API and page.";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("kafka", "use this Kafka (HOST:PORT) instead of the embedded broker", ValueName: "HOST:PORT"),
        new("redis", "store snapshots in this Redis instead of a local folder", ValueName: "HOST:PORT"),
        new("http", "HTTP listen address", "127.0.0.1:8080", ValueName: "HOST:PORT"),
        new("duration", "stop after this long (e.g. 90s, 10m); default: until Ctrl-C", ValueName: "TIME"),
        new("rate", "pairs per second the producer streams (default: the config's Demo:Rate)", ValueName: "R"),
        new("noise", "label noise of the stream: none | entropy | temperature", ValueName: "KIND"),
        new("snapshots", "snapshot folder when no Redis is given", ValueName: "DIR"),
        new("text", "also train a text model beside each configured class model (fashion-cad -> caption-cad, ...) on generated captions of the same stream", IsFlag: true),
        new("config", "configuration file", "config/cadstream.json beside the executable", ValueName: "FILE"),
        .. DemoFrom.Options,
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        var settings = CadStreamSettings.Load(a.Has("config") ? a.RequireString("config") : null);
        // One node with every role, on a free remoting port, founding its own cluster.
        settings = settings with { Node = settings.Node with { Roles = ["ingress", "scorer", "trainer", "serving"], Port = 0, SeedNodes = [] } };
        // Loopback unless --http says otherwise: the demo needs no API key on this machine.
        if (!a.Has("http")) settings = settings with { Http = settings.Http with { Url = "http://127.0.0.1:8080" } };
        settings = NodeOptions.Apply(a, settings);
        if (a.Has("from")) return RunFrom(a, settings, cancel);
        if (DemoFrom.Options.FirstOrDefault(o => a.Has(o.Name)) is { } alone)
            throw new UsageException($"--{alone.Name} goes with --from PATH... (the user's own data); the Fashion-MNIST demo has its own shape");
        if (a.Has("snapshots")) settings = settings with { Snapshots = settings.Snapshots with { Folder = a.RequireString("snapshots") } };
        bool text = a.Flag("text");
        if (text) settings = settings with { Models = [.. settings.Models, .. TextCopies(settings.Models)] };
        double rate = a.Has("rate") ? a.Double("rate", 0.1, 100_000) : settings.Demo.Rate;
        var noise = a.Has("noise") ? a.RequireString("noise") : settings.Demo.Noise;
        LabelNoiseKind noiseKind;
        try { noiseKind = LabelNoise.ParseKind(noise); } catch (ArgumentException e) { throw new UsageException($"--noise: {e.Message}"); }
        if (noiseKind == LabelNoiseKind.Temperature && settings.Scoring.Classifier is null)
            throw new UsageException("--noise temperature needs Scoring:Classifier in the configuration (a file from cadstream train-classifier)");

        // The clean-label classifier judges the live samples on the page (and scores pairs that come without coherence).
        // Trained once, on clean labels, and saved for later runs; in a fresh folder it trains in the background while
        // the node already runs: the page answers at once and says how far the classifier is.
        ClassifierSource? classifier = null;
        if (settings.Scoring.Classifier is null)
        {
            var classifierPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(settings.Snapshots.Folder)) ?? ".", "classifier.bin");
            classifier = File.Exists(classifierPath) ? ClassifierSource.Existing(classifierPath) : ClassifierSource.Pending(classifierPath);
            Console.Error.WriteLine(classifier.IsReady ? $"classifier: using {classifierPath}"
                : $"classifier: none yet, training one on clean labels (2 epochs) into {classifierPath} in the background once the node runs; " +
                  "live sample accuracy starts when it is ready");
            settings = settings with { Scoring = settings.Scoring with { Classifier = classifierPath } };
        }

        using var timer = NodeOptions.Deadline(a, cancel, out var token);
        // Only the producer needs the images, once the node runs: they load on the other core meanwhile.
        var loading = Task.Run(() => FashionMnist.Load(train: true));
        var broker = Broker(ref settings, out var bootstrap);
        var client = settings.Kafka.ClientProperties();
        try
        {
            Task? producing = null;
            var view = new DemoView(classifier);
            return NodeOptions.RunUntil(settings with { Kafka = settings.Kafka with { Bootstrap = bootstrap } }, token, runner =>
            {
                // Started only now: loading data and training beside the node's start would only delay the page.
                if (classifier is { IsReady: false }) TrainClassifier(classifier);
                Console.Error.WriteLine($"demo: kafka {bootstrap}{(broker is null ? "" : " (embedded mock cluster)")}, snapshots in {runner.Store.Description}");
                Console.Error.WriteLine($"demo: models {string.Join(", ", runner.Catalog.All.Select(m => $"{m.Id} ({m.Mode})"))}; open {runner.HttpUrl}/ in a browser");
                // With text models every record also carries a caption (20 % naming a wrong class, 10 % none) and no
                // coherence: the scorers give each model kind its own (the classifier for labels, caption agreement for text).
                var captions = text ? new CaptionGenerator(new CaptionNoise(0.2, 0.1), settings.Demo.Seed) : null;
                var stream = FashionPairStream.Create(loading.GetAwaiter().GetResult(), noiseKind, 0.5, ClassifierFile.Logits(settings.Scoring.Classifier), settings.Demo.Seed, captions: captions);
                Console.Error.WriteLine($"demo: producing {rate} pairs/s of {noise}-noised Fashion-MNIST ({stream.WrongFraction:P0} of labels wrong" +
                                        (text ? "; captions: 20 % name a wrong class, 10 % none" : "") + $") into {settings.Kafka.Topic}");
                producing = Task.Run(() =>
                {
                    // Text records carry no coherence: the classifier scores them, so they wait for it rather than train at c = 1.
                    if (text && classifier is { IsReady: false })
                    {
                        Console.Error.WriteLine("demo: the producer starts once the classifier is trained (it scores the records, which carry no coherence)");
                        try { classifier.Ready.Wait(token); }
                        catch (OperationCanceledException) { return; }
                        catch (AggregateException) { /* it failed (said on the console): the scorers give c = 1 */ }
                    }
                    using var producer = new PairProducer(bootstrap, settings.Kafka.Topic, PairRecords.ParseFormat(settings.Demo.Format), extraConfig: client);
                    // The embedded broker deletes old records past a few MiB per partition, read or not: the producer
                    // waits while the consumer is far behind.
                    long maxLag = EmbeddedKafka.SafeLagPerPartition * settings.Kafka.Partitions;
                    PairStreaming.Run(producer, stream.Pairs(0), 0, rate, p => view.Produced = p.Delivered, cancel: token,
                        hold: broker is null ? null : () => view.Held = (runner.Consumer?.Lag.Values.Sum() ?? 0) > maxLag);
                }, CancellationToken.None);
            }, runner => Console.Error.WriteLine(view.Line(runner)), classifier);
        }
        finally
        {
            // libtorch still running on the classifier's thread while the process ends can crash it (exit code 139).
            if (classifier?.Stop(TimeSpan.FromSeconds(60)) == false) Console.Error.WriteLine("demo: the classifier's training did not stop within 60 s");
            broker?.Dispose();
        }
    }

    /// <summary>
    /// The embedded broker unless Kafka:Bootstrap (or --kafka) names one; the settings lose the security settings the
    /// embedded broker cannot speak, and a real Kafka's are checked.
    /// </summary>
    static EmbeddedKafka? Broker(ref CadStreamSettings settings, out string bootstrap)
    {
        EmbeddedKafka? broker = null;
        bootstrap = settings.Kafka.Bootstrap;
        if (string.IsNullOrWhiteSpace(bootstrap))
        {
            broker = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = settings.Kafka.Partitions });
            bootstrap = broker.BootstrapServers;
            // The embedded broker speaks plaintext only: security settings meant for a real Kafka would only break it.
            if (settings.Kafka.Client.Count > 0)
            {
                Console.Error.WriteLine($"demo: Kafka:Client ({string.Join(", ", settings.Kafka.ClientProperties().Keys)}) is not used with the embedded broker");
                settings = settings with { Kafka = settings.Kafka with { Client = new() } };
            }
        }
        if (broker is null) KafkaClientSettings.Check(settings.Kafka.ClientProperties());
        return broker;
    }

    /// <summary>
    /// `--from PATH...`: the same node and page on the user's own data (<see cref="DemoFrom"/>), sent by the sending code
    /// of `produce --from`, over and over. No classifier knows the user's classes, so there is no live sample accuracy
    /// and no classifier coherence: records with a score are scored by it, the others train at c = 1.
    /// </summary>
    int RunFrom(ParsedArgs a, CadStreamSettings settings, CancellationToken cancel)
    {
        if (a.Flag("text"))
            throw new UsageException("--text makes caption models of Fashion-MNIST; with --from the data's own captions (.txt, a json caption or --caption-column) make the text models");
        if (a.Has("noise"))
            throw new UsageException("--noise labels Fashion-MNIST wrongly on purpose; with --from the records go as the data has them");
        double rate = a.Has("rate") ? a.Double("rate", 0.1, 100_000) : settings.Demo.Rate;
        var plan = DemoFrom.Read(a, settings);
        // Snapshots of other data (other classes, another shape) could not be served: each shape keeps its own folder.
        var folder = a.Has("snapshots") ? a.RequireString("snapshots")
            : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(settings.Snapshots.Folder)) ?? ".", $"own-{plan.Fingerprint}");
        settings = settings with
        {
            Models = [.. plan.Models],
            Snapshots = settings.Snapshots with { Folder = folder },
            Scoring = settings.Scoring with { Classifier = null },
        };
        try { _ = settings.Catalog(); }
        catch (ArgumentException e) { throw new UsageException($"--from: {e.Message}"); }
        foreach (var line in plan.Said) Console.Error.WriteLine($"demo: {line}");
        Console.Error.WriteLine("demo: no classifier knows this data, so live sample accuracy is off (the page says so); " +
                                "records with a score are scored by it, the others train at c = 1");

        using var timer = NodeOptions.Deadline(a, cancel, out var token);
        var broker = Broker(ref settings, out var bootstrap);
        var client = settings.Kafka.ClientProperties();
        try
        {
            Task? producing = null;
            var view = new DemoView(null);
            return NodeOptions.RunUntil(settings with { Kafka = settings.Kafka with { Bootstrap = bootstrap } }, token, runner =>
            {
                Console.Error.WriteLine($"demo: kafka {bootstrap}{(broker is null ? "" : " (embedded mock cluster)")}, snapshots in {runner.Store.Description}");
                Console.Error.WriteLine($"demo: models {string.Join(", ", runner.Catalog.All.Select(m => $"{m.Id} ({m.Kind.Name()}, {m.Mode.Name()})"))}; open {runner.HttpUrl}/ in a browser");
                Console.Error.WriteLine($"demo: producing {rate} records/s from {plan.Files.Count} input(s) into {settings.Kafka.Topic}, over and over" +
                                        (plan.Limit > 0 ? $" (the first {plan.Limit} records)" : ""));
                producing = Task.Run(() =>
                {
                    using var producer = new PairProducer(bootstrap, settings.Kafka.Topic, PairRecords.ParseFormat(settings.Demo.Format), extraConfig: client);
                    long maxLag = EmbeddedKafka.SafeLagPerPartition * settings.Kafka.Partitions;
                    var lastSaid = DateTime.MinValue;
                    for (int pass = 1; !token.IsCancellationRequested; pass++)
                    {
                        // The same inputs each pass: their problems are said on the first only.
                        var report = new SourceReport(pass == 1 ? p => Console.Error.WriteLine($"demo: {p}") : null);
                        var records = ShuffleBuffer.Shuffle(SourceReading.Read(plan.Files, plan.Fields, report), plan.ShuffleBuffer, settings.Demo.Seed + pass);
                        long before = producer.Sent;
                        var summary = PairStreaming.Run(producer, records, plan.Limit, rate, p => view.Produced = p.Delivered, cancel: token,
                            hold: broker is null ? null : () => view.Held = (runner.Consumer?.Lag.Values.Sum() ?? 0) > maxLag);
                        if (summary.Interrupted || token.IsCancellationRequested) return;
                        long sent = producer.Sent - before;
                        if (sent == 0)
                        {
                            Console.Error.WriteLine("demo: nothing could be read from --from on this pass; the producer stops (the node goes on)");
                            return;
                        }
                        // A small folder is read in a fraction of a second: the first pass is said, then at most one a minute.
                        if (pass == 1 || DateTime.UtcNow - lastSaid > TimeSpan.FromMinutes(1))
                        {
                            Console.Error.WriteLine($"demo: pass {pass} over --from done ({sent} records sent this pass, {producer.Delivered} delivered and {producer.Failed} failed in all); starting over");
                            lastSaid = DateTime.UtcNow;
                        }
                    }
                }, CancellationToken.None);
            }, runner => Console.Error.WriteLine(view.Line(runner)));
        }
        finally
        {
            broker?.Dispose();
        }
    }

    /// <summary>
    /// Trains the clean-label classifier (2 epochs, as `cadstream train-classifier`) on a background thread with one
    /// libtorch thread, so that the trainers keep most of the cores, and saves it for later runs.
    /// </summary>
    static void TrainClassifier(ClassifierSource classifier) =>
        classifier.TrainInBackground(
            progress => ClassifierTraining.Train(FashionMnist.Load(true), FashionMnist.Load(false), 2, 128, 1e-3, 0, fraction: progress),
            threads: 1,
            finished: (result, error) => Console.Error.WriteLine(result is not null
                ? $"classifier: test accuracy {result.TestAccuracy:P2}, trained in {result.TrainTime.TotalSeconds:F0} s, saved to {classifier.Path}; live sample accuracy starts now"
                : $"classifier: training failed ({error?.Message}); the demo goes on without live sample accuracy"));

    /// <summary>A text model beside each class model: same size and training settings, captions instead of labels.</summary>
    static IEnumerable<ModelSpec> TextCopies(IEnumerable<ModelSpec> models) =>
        models.Where(m => m.Kind == ConditionKind.Class).Select(m => m with
        {
            Id = m.Id.StartsWith("fashion-", StringComparison.Ordinal) ? "caption-" + m.Id["fashion-".Length..] : m.Id + "-text",
            Kind = ConditionKind.Text,
        });

    /// <summary>The live console line: ingest rate, per-model steps/s, loss and snapshot version, lag.</summary>
    sealed class DemoView(ClassifierSource? classifier)
    {
        public long Produced;
        public volatile bool Held;
        private long lastAccepted;
        private DateTime lastAt = DateTime.UtcNow;
        private DateTime? firstPair;

        public string Line(CadStreamNode runner)
        {
            var status = runner.CurrentStatus();
            var now = DateTime.UtcNow;
            long accepted = runner.Consumer?.Accepted ?? 0, rejected = runner.Consumer?.Rejected ?? 0;
            double ingest = (accepted - lastAccepted) / Math.Max(1e-3, (now - lastAt).TotalSeconds);
            lastAccepted = accepted;
            lastAt = now;
            if (accepted > 0) firstPair ??= now;
            // Paused = back-pressure: too many accepted pairs are not yet trained into a stored snapshot.
            var paused = runner.Consumer?.IsPaused == true ? ", paused: the trainers are behind" : "";
            // Time since the first pair: what the README's "after N minutes" counts from.
            var since = firstPair is { } f ? now - f : TimeSpan.Zero;
            var parts = new List<string> { $"t+{(int)since.TotalMinutes:D2}:{since.Seconds:D2} ingest {ingest:F0}/s ({accepted} accepted, {rejected} rejected{paused})" };
            // Steps/s as the node measures it from the trainers' own counters (over >= 5 s); the live sample accuracy.
            var quality = runner.Services.GetService(typeof(CadStream.Serving.ServingRuntime)) as CadStream.Serving.ServingRuntime;
            foreach (var (id, t) in status.Training.OrderBy(kv => kv.Key))
            {
                var q = quality?.Quality.Latest(id);
                parts.Add($"{id}: step {t.Steps} ({(t.StepsPerSecond is double r ? r.ToString("F1") : "-")}/s) " +
                          $"loss {(t.Loss is double l ? l.ToString("F4") : "-")} snapshot v{t.SnapshotVersion ?? 0}" +
                          (q?.Accuracy is double acc ? $" acc {acc:F2}" + (q.AccuracyAtZero is double z ? $"/{z:F2} at c=0" : "") : ""));
            }
            parts.Add($"lag {status.ConsumerLag.Sum(l => l.Lag)}{(Held ? " (producer waiting for the trainers)" : "")}");
            if (classifier is { IsReady: false }) parts.Add($"classifier {classifier.State.Text}");
            return string.Join(" | ", parts);
        }
    }
}
