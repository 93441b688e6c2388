using Akka.Actor;
using Akka.Hosting;
using CadStream.Actors;
using CadStream.Actors.Training;
using CadStream.Catalog;
using CadStream.Catalog.Judging;
using CadStream.Catalog.Text;
using CadStream.Host.Configuration;
using CadStream.Ingress.Kafka;
using CadStream.Runtime;
using CadStream.Scoring;
using CadStream.Serving;
using CadStream.Snapshots;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
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
    private readonly NodeExit exit = new();
    private int disposed;

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
    public Task<int> Exited => exit.Exited;

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
        app.UseHostFilter(settings.Http.HostGuard());
        // Every node's HTTP goes through the API keys, serving or not (/v1/status is on every node).
        app.UseApiKeys(gate);

        if (node.Has("serving")) app.MapCadStream();
        else app.MapNodeStatus(Health, status, store, Catalog);
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
        var store = await NodeSnapshotStore.OpenAsync(settings);
        CadStreamNode node;
        TextAgreementModels? textAgreement = null;
        var textEncoder = NodeTextEncoder.For(settings.Catalog());
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
        node.exit.Watch(node.app, node.Health, node.System, () => Volatile.Read(ref node.disposed) != 0);
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

    public NodeStatus CurrentStatus() => status.Current();

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
            exit.Stopped();
        }
    }
}
