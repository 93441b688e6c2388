using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Hosting;
using CadStream.Actors;
using CadStream.Actors.Ingest;
using CadStream.Actors.Training;
using CadStream.Catalog;
using CadStream.Catalog.Conditions;
using CadStream.Catalog.Judging;
using CadStream.Catalog.Text;
using CadStream.Host.Configuration;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Runtime;
using CadStream.Scoring;
using CadStream.Serving;
using CadStream.Snapshots;
using CadStream.Snapshots.Redis;
using CadStream.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CadStream.Host.Cluster;

/// <summary>
/// One CadStream node on Microsoft.Extensions.Hosting, wired in one place: the actor system with its
/// roles (Akka.Hosting), the Kafka consumer (ingress) and the snapshot follower (serving) as hosted
/// services under one restart policy, the node's health, and the HTTP API (every node answers
/// /healthz, /metrics and /v1/status; serving nodes the whole API). `cadstream node` and
/// `cadstream demo` both run through here. A part that fails for good, or an actor system that
/// ends (the cluster downed this node), stops the node with exit code 1: never a silent zombie.
/// </summary>
public sealed class CadStreamNode : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly ClusterStatus status;
    private readonly IngressBridge bridge;
    private readonly ILoggerFactory loggers;
    private readonly TextAgreementModels textAgreement;
    /// <summary>
    /// The node's one text encoder (MiniLM with a caption cache), loaded on first use by scorers, trainers or serving;
    /// null on a node none of whose models reads text, which never loads ONNX Runtime or the MiniLM assembly.
    /// </summary>
    public ITextEncoder? TextEncoder { get; }
    private readonly TaskCompletionSource<int> exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int failed, disposed;

    public CadStreamSettings Settings { get; }
    public string KafkaBootstrap => Settings.Kafka.Bootstrap;
    /// <summary>Where the HTTP API listens: the bound address once started (so a configured port 0 reads as the real one).</summary>
    public string HttpUrl => app.Urls.FirstOrDefault() ?? Settings.Http.Url;
    public ActorSystem System => app.Services.GetRequiredService<ActorSystem>();
    /// <summary>The running Kafka consumer of an ingress node (a new one after a restart), else null.</summary>
    public PairConsumer? Consumer => bridge.Consumer;
    public ModelCatalog Catalog { get; }
    public ISnapshotStore Store { get; }
    public NodeHealth Health { get; }
    /// <summary>The coherence bin table of each model, as this node's scorers bin raw scores (also in the node's services).</summary>
    public CoherenceTables CoherenceTables { get; }
    public IServiceProvider Services => app.Services;
    /// <summary>Completes with the exit code once the node has stopped: 0 when asked to, 1 when a part failed for good.</summary>
    public Task<int> Exited => exit.Task;

    private CadStreamNode(CadStreamSettings settings, ISnapshotStore store, ITextEncoder? textEncoder, TextAgreementModels textAgreement,
        ILoggerProvider? logs, Action<PairsStored>? pairsStored, ClassifierSource? classifier)
    {
        TextEncoder = textEncoder;
        this.textAgreement = textAgreement;
        Settings = settings;
        Store = store;
        Catalog = settings.Catalog();
        var node = settings.Node;
        bridge = new IngressBridge();
        var device = TorchRuntime.Initialize();

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseUrls(ServingApp.NormalizeUrl(settings.Http.Url));
        NodeLogging.Configure(builder.Logging, logs);
        loggers = LoggerFactory.Create(b => NodeLogging.Configure(b, logs));
        Health = new NodeHealth(settings.Supervision, loggers.CreateLogger<NodeHealth>());
        // Kafka client settings fail here, with one line, rather than as a consumer that keeps restarting.
        var kafkaClient = settings.Kafka.ClientProperties();
        if (node.Has("ingress")) KafkaClientSettings.Check(kafkaClient);
        // Likewise a remoting certificate that cannot be used (missing, wrong password, no private key).
        if (node.Tls.Enabled) RemotingTls.Load(node.Tls).Dispose();
        status = new ClusterStatus(node, settings.Kafka.Bootstrap, KafkaClientSettings.Redacted(kafkaClient), () => bridge.Consumer, Catalog);

        builder.Services.AddSingleton(Health);
        builder.Services.AddSingleton(bridge);
        var gate = settings.Http.Gate();
        builder.Services.AddSingleton(gate);
        CoherenceTables = CoherenceTables.From(settings.Scoring);
        if (textAgreement.NotScoredBecause is { } why)
            loggers.CreateLogger<CadStreamNode>().LogWarning("text pairs without coherence or score get c = 1: {Why}", why);
        if (classifier is { IsReady: false } && node.Has("scorer"))
            loggers.CreateLogger<CadStreamNode>().LogWarning(
                "until the clean-label classifier is trained ({Path}), pairs without coherence or score get c = 1", classifier.Path);
        builder.Services.AddSingleton(CoherenceTables);
        if (textEncoder is not null) builder.Services.AddSingleton(textEncoder);
        var services = new ActorServices(Catalog, store, settings.Scoring, CoherenceModels(classifier, settings.Scoring),
            new TrainerServices(device, node.ThreadsPerTrainer(Catalog.All.Count), Health, loggers, pairsStored, textEncoder is null ? null : () => textEncoder),
            CoherenceTables, textAgreement.Factory);
        builder.Services.AddAkka(node.SystemName, (akka, _) => akka.AddCadStream(node, services));
        if (node.Has("ingress"))
        {
            if (string.IsNullOrWhiteSpace(settings.Kafka.Bootstrap))
                throw new ArgumentException("an ingress node needs Kafka:Bootstrap (or --kafka HOST:PORT)");
            builder.Services.AddHostedService(sp => new IngressService(settings, Catalog, bridge, Health,
                sp.GetRequiredService<ActorSystem>(), sp.GetRequiredService<ActorRegistry>(), sp.GetRequiredService<ILoggerFactory>()));
        }
        if (node.Has("serving"))
        {
            // The clean-label classifier, when configured, also judges the live samples (once it is made, when it is still training).
            if (classifier is not null) builder.Services.AddSingleton<ISampleJudge>(new ClassifierSampleJudge(classifier));
            builder.Services.AddSingleton<IQualityPrompts>(new HeldOutQualityPrompts());
            builder.Services.AddCadStreamServing(settings.Serving, store, Catalog, status);
        }
        app = builder.Build();
        status.Attach(app.Services);
        // An unforeseen failure answers a JSON error like every other, never an empty 500.
        app.UseJsonErrors();
        // Every node's HTTP goes through the API keys, serving or not (/v1/status is on every node).
        app.UseApiKeys(gate);

        if (node.Has("serving")) app.MapCadStream();
        else
        {
            // The same /v1/status as a serving node's, without the serving role's fields.
            var startedAt = DateTimeOffset.UtcNow;
            var modelIds = Catalog.All.Select(m => m.Id).ToArray();
            app.MapHealth(Health);
            app.MapPrometheus();
            app.MapGet("/v1/status", () =>
            {
                var current = status.Current();
                return Results.Json(StatusDocument.Of(current, Health, startedAt, store.Description, modelIds), StatusDocument.JsonFor(current.Roles));
            });
        }
    }

    /// <summary>Builds the node's snapshot store (Redis when configured, else a folder) and starts everything.</summary>
    /// <param name="logs">Where log lines go (the console by default).</param>
    /// <param name="pairsStored">Optional lineage trace: the pair ids each stored snapshot newly reflects (trainer nodes).</param>
    /// <param name="classifier">
    /// The clean-label classifier when it may still be training (the demo's, in the background); by default
    /// <c>Scoring:Classifier</c>, which must exist. Nothing waits for it at start.
    /// </param>
    public static async Task<CadStreamNode> StartAsync(CadStreamSettings settings, ILoggerProvider? logs = null, CancellationToken cancel = default,
        Action<PairsStored>? pairsStored = null, ClassifierSource? classifier = null)
    {
        using var storeLoggers = LoggerFactory.Create(b => NodeLogging.Configure(b, logs));
        ISnapshotStore store = string.IsNullOrWhiteSpace(settings.Redis.Endpoint)
            ? new FolderSnapshotStore(settings.Snapshots.Folder, new FolderSnapshotStoreOptions { KeepVersions = settings.Snapshots.Keep })
            : await RedisSnapshotStore.ConnectAsync(settings.Redis.Endpoint, settings.Redis.Password,
                new RedisSnapshotStoreOptions { KeyPrefix = settings.Redis.Prefix, KeepVersions = settings.Snapshots.Keep });
        CadStreamNode node;
        TextAgreementModels? textAgreement = null;
        var textEncoder = TextEncoderFor(settings.Catalog());
        try
        {
            classifier ??= settings.Scoring.Classifier is { } path ? ClassifierSource.Existing(path) : null;
            textAgreement = TextAgreementModels.Create(settings.Scoring, settings.Catalog(), scores: settings.Node.Has("scorer"), textEncoder, classifier);
            node = new CadStreamNode(settings, store, textEncoder, textAgreement, logs, pairsStored, classifier);
        }
        catch
        {
            textAgreement?.Dispose();
            (textEncoder as IDisposable)?.Dispose();
            await store.DisposeAsync();
            throw;
        }
        await node.app.StartAsync(cancel);
        node.Watch();
        // An ingress node is up once its consumer runs (the hosted service starts it once the ingest actor exists).
        if (settings.Node.Has("ingress"))
        {
            try { await node.bridge.FirstConsumer.WaitAsync(TimeSpan.FromSeconds(60), cancel); }
            catch (TimeoutException)
            {
                await node.DisposeAsync();
                throw new InvalidOperationException($"the Kafka consumer did not start within 60 s: {node.Health.Problem ?? "no reason given"}");
            }
        }
        return node;
    }

    /// <summary>Stops the node with exit code 1 when a part fails for good or the actor system ends under it.</summary>
    private void Watch()
    {
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        Health.Changed += s =>
        {
            if (s.State == PartState.Failed) Fail();
        };
        if (Health.Parts.Any(p => p.State == PartState.Failed)) Fail();
        System.WhenTerminated.ContinueWith(_ =>
        {
            if (!lifetime.ApplicationStopping.IsCancellationRequested && Volatile.Read(ref disposed) == 0)
                Health.FailedForGood("actor system", "it ended while the node was running (the cluster downed this node?)");
        }, TaskScheduler.Default);
        lifetime.ApplicationStopped.Register(() => exit.TrySetResult(Volatile.Read(ref failed)));

        void Fail()
        {
            if (Interlocked.Exchange(ref failed, 1) != 0) return;
            // Off the reporting thread: stopping waits for hosted services, one of which may be reporting.
            Task.Run(async () =>
            {
                try { await app.StopAsync(); } catch (Exception) { /* stopping anyway */ }
                exit.TrySetResult(1);
            });
        }
    }

    public NodeStatus CurrentStatus() => status.Current();

    /// <summary>The node's text encoder when one of its models reads text; none otherwise.</summary>
    static ITextEncoder? TextEncoderFor(ModelCatalog catalog) => catalog.All.Any(m => m.Rules().ReadsText) ? NewTextEncoder() : null;

    // Its own method, compiled only when called: a node without a text model never resolves the text project's types.
    [MethodImpl(MethodImplOptions.NoInlining)]
    static ITextEncoder NewTextEncoder() => new LazyTextEncoder();

    static Func<ICoherenceModel?> CoherenceModels(ClassifierSource? classifier, ScoringOptions scoring)
    {
        if (classifier is null) return () => null;
        // Each scorer loads its own copy (TorchSharp modules are not shared across threads), once the classifier is made.
        return () => new ClassifierCoherenceModel(new ClassifierCopy(classifier), scoring.ClassifierCoherence);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        try { await app.StopAsync(); }
        finally
        {
            await app.DisposeAsync();
            await Store.DisposeAsync();
            textAgreement.Dispose();
            (TextEncoder as IDisposable)?.Dispose();
            loggers.Dispose();
            exit.TrySetResult(Volatile.Read(ref failed));
        }
    }
}

/// <summary>The running consumer of an ingress node, for the actors (durable positions) and status (lag).</summary>
public sealed class IngressBridge
{
    private readonly TaskCompletionSource first = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile PairConsumer? consumer;

    public PairConsumer? Consumer
    {
        get => consumer;
        set
        {
            consumer = value;
            if (value is not null) first.TrySetResult();
        }
    }

    /// <summary>Completes when the first consumer runs.</summary>
    public Task FirstConsumer => first.Task;
}

/// <summary>
/// The Kafka consumer of an ingress node as a hosted service: consumes into an ingest actor under the
/// node's restart policy. Consumer and ingest actor live and die together (one run): if either fails
/// (a fatal Kafka error; the actor stopped, or restarted and so forgot its batches in flight), both are
/// replaced and the new consumer resumes from the group's committed offsets, so nothing that was not
/// yet reflected in a stored snapshot is skipped.
/// </summary>
public sealed class IngressService(CadStreamSettings settings, ModelCatalog catalog, IngressBridge bridge, NodeHealth health,
    ActorSystem system, ActorRegistry registry, ILoggerFactory loggers) : BackgroundService
{
    public const string Part = "kafka consumer";
    private int runs;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var scorers = await registry.GetAsync<ScorerRouterKey>(stoppingToken);
        await Supervision.RunAsync(Part, (stop, up) => ConsumeAsync(scorers, stop, up), health, stoppingToken);
    }

    private async Task ConsumeAsync(IActorRef scorers, CancellationToken stop, Action up)
    {
        var forgot = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        PairConsumer? consumer = null;
        var ingest = system.ActorOf(IngestActor.PropsFor(scorers, positions => consumer?.MarkDurable(positions),
            new IngestActor.Options { RedeliverAfter = TimeSpan.FromSeconds(settings.Node.RedeliverAfterSeconds) },
            loggers.CreateLogger<IngestActor>(),
            restarted: e => forgot.TrySetException(new InvalidOperationException($"the ingest actor restarted after {e.GetType().Name}: {e.Message}; re-reading from the last commit"))),
            $"ingest-{Interlocked.Increment(ref runs)}");
        var gone = ingest.WatchAsync(CancellationToken.None);
        try
        {
            await RunConsumerAsync(new PairConsumerOptions
            {
                BootstrapServers = settings.Kafka.Bootstrap,
                Topic = settings.Kafka.Topic,
                DeadLetterTopic = settings.Kafka.DeadLetterTopic,
                MaxInFlight = settings.Node.MaxInFlightPairs,
                ConsumerConfig = settings.Kafka.ClientProperties(),
                ProducerConfig = settings.Kafka.ClientProperties(),
                Logger = loggers.CreateLogger<PairConsumer>(),
            }, new PairDecoder(catalog, settings.Ingress), new ActorPairSink(ingest), bridge, stop, up,
                // Revoked partitions go to another ingress node: stop tracking (and re-sending) their batches here.
                parts => ingest.Tell(new IngestActor.Revoked(parts.Select(p => (p.Topic, p.Partition.Value)).ToArray())),
                started: c => consumer = c,
                alsoEndsOn: Task.WhenAny(forgot.Task, gone.ContinueWith(_ => throw new InvalidOperationException("the ingest actor stopped; re-reading from the last commit"),
                    TaskScheduler.Default)).Unwrap());
        }
        finally { system.Stop(ingest); }
    }

    /// <summary>
    /// One consumer's life: starts it, publishes it on the bridge, calls <paramref name="up"/>, and ends when
    /// <paramref name="stop"/> fires (stopping it cleanly), when the consumer fails, or when
    /// <paramref name="alsoEndsOn"/> faults (rethrowing that failure, which the supervision turns into a restart).
    /// </summary>
    public static async Task RunConsumerAsync(PairConsumerOptions options, PairDecoder decoder, IPairSink sink, IngressBridge bridge,
        CancellationToken stop, Action up, Action<IReadOnlyList<Confluent.Kafka.TopicPartition>>? revoked = null,
        Action<PairConsumer>? started = null, Task? alsoEndsOn = null)
    {
        using var consumer = new PairConsumer(options, decoder, sink);
        if (revoked is not null) consumer.PartitionsRevoked += revoked;
        started?.Invoke(consumer);
        consumer.Start();
        bridge.Consumer = consumer;
        up();
        try
        {
            var ended = await Task.WhenAny(consumer.Completion, alsoEndsOn ?? Task.Delay(Timeout.Infinite, stop)).WaitAsync(stop);
            await ended;  // rethrows what ended the run
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
        finally
        {
            if (ReferenceEquals(bridge.Consumer, consumer)) bridge.Consumer = null;
            await consumer.StopAsync();
        }
        await consumer.Completion;  // rethrows the consumer's failure, if it failed
    }
}

/// <summary>What /v1/status says of any node besides its health and served models: roles, members, Kafka, lag, each model's training counters.</summary>
/// <param name="kafkaClient">The Kafka client settings as they may be shown (<see cref="KafkaClientSettings.Redacted"/>).</param>
public sealed class ClusterStatus(NodeSettings node, string kafka, IReadOnlyDictionary<string, string> kafkaClient, Func<PairConsumer?> consumer, ModelCatalog catalog) : INodeStatus
{
    private IServiceProvider? services;
    private readonly Dictionary<string, TrainerStatus> trainers = new();
    // Steps per second from the last two answers of each trainer, at least 5 s apart.
    private readonly Dictionary<string, (long Steps, DateTime At, double? Rate)> rates = new();
    private DateTime lastAsk = DateTime.MinValue;

    public void Attach(IServiceProvider sp) => services = sp;

    public NodeStatus Current()
    {
        var system = services?.GetService<ActorSystem>();
        var members = system is null ? [] : Akka.Cluster.Cluster.Get(system).State.Members.Select(m => $"{m.Address} [{string.Join(",", m.Roles)}] {m.Status}").ToArray();
        RefreshTrainers(system);
        var lag = consumer()?.Lag.Select(kv => new ConsumerLag(kv.Key.Topic, kv.Key.Partition.Value, kv.Value)).ToArray() ?? [];
        Dictionary<string, TrainingStatus> training;
        lock (trainers)
            training = trainers.ToDictionary(kv => kv.Key, kv => new TrainingStatus(kv.Value.Steps, kv.Value.SamplesSeen, double.IsFinite(kv.Value.Loss) ? kv.Value.Loss : null,
                rates.GetValueOrDefault(kv.Key).Rate, kv.Value.Node,
                SnapshotVersion: kv.Value.SnapshotVersion, CoherenceCounts: kv.Value.CoherenceCounts));
        return new NodeStatus
        {
            NodeId = system is null ? Environment.MachineName : Akka.Cluster.Cluster.Get(system).SelfAddress.ToString(),
            Roles = node.Roles,
            Members = members,
            KafkaBootstrap = string.IsNullOrEmpty(kafka) ? null : kafka,
            KafkaClient = kafkaClient,
            ConsumerLag = lag,
            Training = training,
        };
    }

    // Trainer counters are asked for in the background; a status request never waits on the cluster.
    private void RefreshTrainers(ActorSystem? system)
    {
        if (system is null || DateTime.UtcNow - lastAsk < TimeSpan.FromSeconds(1)) return;
        lastAsk = DateTime.UtcNow;
        var registry = ActorRegistry.For(system);
        if (!registry.TryGet<TrainerRegion>(out var region)) return;
        foreach (var m in catalog.All)
            _ = region.Ask<TrainerStatus>(new GetTrainerStatus(m.Id), TimeSpan.FromSeconds(2)).ContinueWith(t =>
            {
                if (!t.IsCompletedSuccessfully) return;
                lock (trainers)
                {
                    trainers[m.Id] = t.Result;
                    var now = DateTime.UtcNow;
                    if (!rates.TryGetValue(m.Id, out var last) || t.Result.Steps < last.Steps) rates[m.Id] = (t.Result.Steps, now, null);
                    else if ((now - last.At).TotalSeconds >= 5)
                        rates[m.Id] = (t.Result.Steps, now, (t.Result.Steps - last.Steps) / (now - last.At).TotalSeconds);
                }
            });
    }
}
