using Akka.Actor;
using Akka.Cluster;
using Akka.Hosting;
using CadStream.Actors;
using CadStream.Actors.Ingest;
using CadStream.Actors.Training;
using CadStream.Host.Configuration;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Model.Catalog;
using CadStream.Model.Runtime;
using CadStream.Model.Snapshots;
using CadStream.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace CadStream.Host.Cluster;

/// <summary>
/// One CadStream node: the actor system with its roles, the Kafka consumer (ingress), the HTTP
/// API (every node answers /healthz, /metrics and /v1/status; serving nodes the whole API).
/// `cadstream node` and `cadstream demo` both run through here.
/// </summary>
public sealed class NodeRunner : IAsyncDisposable
{
    private readonly CadStreamSettings settings;
    private readonly ModelCatalog catalog;
    private readonly ISnapshotStore store;
    private readonly WebApplication app;
    private readonly ClusterStatus status;
    private PairConsumer? consumer;

    public string KafkaBootstrap { get; }
    /// <summary>Where the HTTP API listens: the bound address once started (so a configured port 0 reads as the real one).</summary>
    public string HttpUrl => app.Urls.FirstOrDefault() ?? settings.Http.Url;
    public ActorSystem System => app.Services.GetRequiredService<ActorSystem>();
    public PairConsumer? Consumer => consumer;
    public ModelCatalog Catalog => catalog;
    public ISnapshotStore Store => store;

    private NodeRunner(CadStreamSettings settings, ISnapshotStore store, string kafkaBootstrap, Action<string>? log)
    {
        this.settings = settings;
        this.store = store;
        KafkaBootstrap = kafkaBootstrap;
        catalog = settings.Catalog();
        var device = TorchRuntime.Initialize();
        var node = settings.Node;
        status = new ClusterStatus(node, kafkaBootstrap, () => consumer, catalog);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseUrls(ServingApp.NormalizeUrl(settings.Http.Url));
        builder.Logging.ClearProviders();
        if (log is not null) builder.Logging.AddProvider(new LineLoggerProvider(log));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddAkka(node.SystemName, (akka, _) =>
            akka.AddCadStream(node, catalog, store, settings.Scoring, device, offsets => consumer?.MarkDurable(offsets)));
        if (node.Has("serving")) builder.Services.AddCadStreamServing(settings.Serving, store, catalog, status);
        app = builder.Build();
        status.Attach(app.Services);

        if (node.Has("serving")) app.MapCadStream();
        else
        {
            app.MapGet("/healthz", () => Results.Text("ok"));
            app.MapMetrics("/metrics");
            app.MapGet("/v1/status", () => Results.Json(status.Current()));
        }
    }

    /// <summary>Builds the node's snapshot store (Redis when configured, else a folder) and starts everything.</summary>
    public static async Task<NodeRunner> StartAsync(CadStreamSettings settings, string kafkaBootstrap, Action<string>? log, CancellationToken cancel)
    {
        ISnapshotStore store = string.IsNullOrWhiteSpace(settings.Redis.Endpoint)
            ? new FolderSnapshotStore(settings.Snapshots.Folder, new FolderSnapshotStoreOptions { KeepVersions = settings.Snapshots.Keep })
            : await RedisSnapshotStore.ConnectAsync(settings.Redis.Endpoint, settings.Redis.Password,
                new RedisSnapshotStoreOptions { KeyPrefix = settings.Redis.Prefix, KeepVersions = settings.Snapshots.Keep });
        var runner = new NodeRunner(settings, store, kafkaBootstrap, log);
        await runner.app.StartAsync(cancel);
        if (settings.Node.Has("ingress"))
        {
            if (string.IsNullOrWhiteSpace(kafkaBootstrap)) throw new ArgumentException("an ingress node needs Kafka:Bootstrap (or --kafka HOST:PORT)");
            var registry = runner.app.Services.GetRequiredService<ActorRegistry>();
            var ingest = await registry.GetAsync<IngestKey>(cancel);
            var consumer = new PairConsumer(new PairConsumerOptions
            {
                BootstrapServers = kafkaBootstrap,
                Topic = settings.Kafka.Topic,
                DeadLetterTopic = settings.Kafka.DeadLetterTopic,
                MaxInFlight = settings.Node.MaxInFlightPairs,
                Log = log,
            }, new PairDecoder(runner.catalog), new ActorPairSink(ingest));
            // Revoked partitions go to another ingress node: stop tracking (and re-sending) their batches here.
            consumer.PartitionsRevoked += parts =>
                ingest.Tell(new IngestActor.Revoked(parts.Select(p => new RecordSource(p.Topic, p.Partition.Value, 0)).ToArray()));
            runner.consumer = consumer.Start();
        }
        return runner;
    }

    public NodeStatus CurrentStatus() => status.Current();

    public async ValueTask DisposeAsync()
    {
        if (consumer is not null) { await consumer.StopAsync(); consumer.Dispose(); }
        await app.StopAsync();
        await app.DisposeAsync();
        await store.DisposeAsync();
    }
}

/// <summary>/v1/status for any node: roles, members, Kafka, lag, and each model's counters.</summary>
public sealed class ClusterStatus(NodeSettings node, string kafka, Func<PairConsumer?> consumer, ModelCatalog catalog) : INodeStatus
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
                SnapshotVersion: kv.Value.SnapshotVersion));
        return new NodeStatus
        {
            NodeId = system is null ? Environment.MachineName : Akka.Cluster.Cluster.Get(system).SelfAddress.ToString(),
            Roles = node.Roles,
            Members = members,
            KafkaBootstrap = string.IsNullOrEmpty(kafka) ? null : kafka,
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

/// <summary>Routes framework log lines (warnings and errors) to one line each.</summary>
sealed class LineLoggerProvider(Action<string> write) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new LineLogger(categoryName, write);
    public void Dispose() { }

    sealed class LineLogger(string category, Action<string> write) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) write($"{logLevel.ToString().ToLowerInvariant()}: {category.Split('.').Last()}: {formatter(state, exception)}");
        }
    }
}
