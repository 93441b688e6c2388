using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.Cluster.Routing;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Akka.Routing;
using CadStream.Actors.Scoring;
using CadStream.Actors.Serialization;
using CadStream.Actors.Training;
using CadStream.Catalog;
using CadStream.Model;
using CadStream.Scoring;
using CadStream.Snapshots;

namespace CadStream.Actors;

/// <summary>Cluster settings of one node (config section "Node").</summary>
public sealed record NodeSettings
{
    public string SystemName { get; init; } = "cadstream";
    public string[] Roles { get; init; } = ["ingress", "scorer", "trainer", "serving"];
    /// <summary>
    /// The host name or address other nodes reach this one at (Akka's public hostname, part of this
    /// node's cluster address). Empty = this machine's host name (<see cref="System.Net.Dns.GetHostName"/>),
    /// which in a container is the container's own host name: every replica of a scaled compose service
    /// then advertises a name the others resolve.
    /// </summary>
    public string Hostname { get; init; } = "127.0.0.1";
    /// <summary>
    /// The local address remoting listens on. Empty = <see cref="Hostname"/> when that is set, else
    /// 0.0.0.0 (every interface: what a container needs to be reachable under its host name).
    /// </summary>
    public string BindHostname { get; init; } = "";
    /// <summary>0 picks a free port (fine for a single node or the first node of a test).</summary>
    public int Port { get; init; } = 4053;
    /// <summary>Akka addresses of the seed nodes; empty = this node founds the cluster.</summary>
    public string[] SeedNodes { get; init; } = [];
    /// <summary>Pairs accepted from Kafka but not yet in a stored snapshot, before partitions pause.</summary>
    public int MaxInFlightPairs { get; init; } = 4096;
    public double RedeliverAfterSeconds { get; init; } = 90;
    /// <summary>
    /// libtorch threads each trainer computes with on the CPU; 0 = the node's cores shared out over the
    /// configured models (at least 1). Each trainer runs its own OpenMP team: left at every core each,
    /// two trainers on 2 cores run 4 busy threads that wait on each other's barriers. Measured with
    /// `cadstream demo` on 2 cores, the same 100 s: 1 thread each 0.47 s per step, 2 each 0.59 s.
    /// </summary>
    public int TrainerThreads { get; init; }
    /// <summary>TLS between nodes (section "Node:Tls"); off without a certificate.</summary>
    public TlsSettings Tls { get; init; } = new();
    /// <summary>
    /// Lets a node run remoting beyond loopback without authenticated TLS (a network where everything that reaches
    /// the port is trusted). Off: such a node refuses to start (<see cref="RemotingProblem"/>).
    /// </summary>
    public bool AllowInsecureRemoting { get; init; }

    /// <summary>
    /// Why this node must not start remoting as configured, or null: beyond loopback, remoting needs TLS with peers
    /// checked (anything that reaches the port could otherwise join and send pairs or commit messages), unless
    /// <see cref="AllowInsecureRemoting"/>. On loopback (the demo, tests) nothing is needed.
    /// </summary>
    public string? RemotingProblem(Func<string>? machineHostname = null)
    {
        if (AllowInsecureRemoting) return null;
        string bind = EffectiveBindHostname, reached = PublicHostname(machineHostname);
        if (IsLoopback(bind) && IsLoopback(reached)) return null;
        const string fix = "run `cadstream certs` and set Node:Tls:CertificatePath and Node:Tls:TrustedCa (docs/security.md), or set Node:AllowInsecureRemoting on a network you trust";
        if (!Tls.Enabled)
            return $"remoting listens on {bind}:{Port} (reached as {reached}) in plaintext, beyond loopback: anyone reaching the port could join the cluster; {fix}";
        if (!Tls.ValidateCertificateChain)
            return $"remoting listens on {bind}:{Port} with Node:Tls:ValidateCertificateChain false: any certificate could join the cluster; {fix}";
        return null;
    }

    static bool IsLoopback(string host) =>
        string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) || (System.Net.IPAddress.TryParse(host, out var ip) && System.Net.IPAddress.IsLoopback(ip));

    /// <summary>The threads one trainer uses (<see cref="TrainerThreads"/>, or the cores shared out over <paramref name="models"/>).</summary>
    public int ThreadsPerTrainer(int models) =>
        TrainerThreads > 0 ? TrainerThreads : Math.Max(1, Environment.ProcessorCount / Math.Max(1, models));

    /// <summary>
    /// <see cref="SeedNodes"/> in the scheme of this node's transport: with TLS, addresses are akka.ssl.tcp://,
    /// without it akka.tcp://. Every node of a cluster uses the same transport, so a seed list written for one
    /// works for the other (switching TLS on changes no seed list).
    /// </summary>
    public string[] SeedAddresses()
    {
        const string plain = "akka.tcp://", tls = "akka.ssl.tcp://";
        var (from, to) = Tls.Enabled ? (plain, tls) : (tls, plain);
        return SeedNodes.Select(s => s.Trim()).Select(s => s.StartsWith(from, StringComparison.Ordinal) ? to + s[from.Length..] : s).ToArray();
    }

    public static readonly string[] KnownRoles = ["ingress", "scorer", "trainer", "serving"];
    public bool Has(string role) => Roles.Contains(role);

    /// <summary>The host name in this node's cluster address: <see cref="Hostname"/>, or this machine's host name when empty.</summary>
    public string PublicHostname(Func<string>? machineHostname = null) =>
        string.IsNullOrWhiteSpace(Hostname) ? (machineHostname ?? System.Net.Dns.GetHostName)().Trim() : Hostname.Trim();

    /// <summary>Where remoting listens: <see cref="BindHostname"/>, else <see cref="Hostname"/>, else every interface.</summary>
    public string EffectiveBindHostname =>
        !string.IsNullOrWhiteSpace(BindHostname) ? BindHostname.Trim()
        : !string.IsNullOrWhiteSpace(Hostname) ? Hostname.Trim()
        : "0.0.0.0";
}

/// <summary>Registry key of the cluster-aware router to the scorers, on ingress nodes (each consumer run's ingest actor sends to it).</summary>
public sealed class ScorerRouterKey;

/// <summary>What the actors of a node work with, made by the host before the actor system starts.</summary>
/// <param name="CoherenceModels">Makes each scorer's model of image-label agreement (null: none).</param>
/// <param name="Tables">The node's coherence bin tables, one per model, shared by its scorers.</param>
/// <param name="TextAgreementModels">Makes each scorer's model of image-caption agreement (null: none).</param>
public sealed record ActorServices(
    ModelCatalog Catalog,
    ISnapshotStore Store,
    ScoringOptions Scoring,
    Func<ICoherenceModel?> CoherenceModels,
    TrainerServices Trainers,
    CoherenceTables Tables,
    Func<ITextAgreementModel?> TextAgreementModels);

/// <summary>
/// All actor wiring in one place: remoting, clustering with the split-brain resolver, the
/// trainer shard region (trainer nodes) or its proxy (other nodes), the scorer pool (scorer
/// nodes) and the cluster-aware router to the scorers (ingress nodes).
/// </summary>
public static class CadStreamCluster
{
    /// <summary>CadStream's version as the cluster sees it (from this assembly).</summary>
    public static string AppVersion { get; } = (typeof(CadStreamCluster).Assembly.GetName().Version ?? new Version(1, 0, 0)).ToString(3);

    public static AkkaConfigurationBuilder AddCadStream(this AkkaConfigurationBuilder builder, NodeSettings node, ActorServices services)
    {
        var catalog = services.Catalog;
        foreach (var r in node.Roles)
            if (!NodeSettings.KnownRoles.Contains(r)) throw new ArgumentException($"unknown role '{r}'; roles are {string.Join(", ", NodeSettings.KnownRoles)}");

        // Remember-entities on DData without durable keys: LightningDB (durable storage) does not load
        // with the served packages (docs/architecture.md, "Measured facts"). Entities survive a node crash, and the configured
        // models are started again at every cluster start.
        // The cluster's app version is CadStream's, whatever process hosts it (Akka's default is the entry
        // assembly's): shards do not rebalance while members differ in version, as in a rolling update.
        builder.AddHocon($"akka.cluster.app-version = \"{AppVersion}\"", HoconAddMode.Prepend);
        builder.AddHocon("""
            akka.cluster.sharding.distributed-data.durable.keys = []
            akka.cluster.sharding.remember-entities-store = ddata
            # A trainer node that joins takes models over from the busiest one, one model per round (the
            # balancing strategy; the older threshold strategy left two models on one node beside an idle one).
            akka.cluster.sharding.least-shard-allocation-strategy.rebalance-absolute-limit = 1
            akka.cluster.split-brain-resolver.stable-after = 3s
            akka.cluster.down-removal-margin = 3s
            # A batch of 32 pairs of the largest model (3 x 64 x 64 bytes each) with ids and captions at
            # their limits (Ingress:MaxCaptionLength up to 4000 characters of up to 4 UTF-8 bytes) is ~0.9 MiB.
            akka.remote.dot-netty.tcp.maximum-frame-size = 1048576b
            akka.coordinated-shutdown.exit-clr = off
            # The host owns SIGTERM and Ctrl+C: it stops the consumer, trainers and serving in order and then
            # the actor system. Akka's own hook would end the system under a node still running.
            akka.coordinated-shutdown.run-by-clr-shutdown-hook = off
            akka.loglevel = WARNING
            """, HoconAddMode.Prepend);
        // A trainer stores a final snapshot when it stops (hand-off or shutdown): give it time. Only on
        // trainer nodes: a proxy holding messages for trainers that are gone would wait it out at every stop.
        if (node.Has("trainer"))
            builder.AddHocon("""
                akka.cluster.sharding.handoff-timeout = 120s
                akka.coordinated-shutdown.phases.cluster-sharding-shutdown-region.timeout = 120s
                """, HoconAddMode.Prepend);
        // Akka's warnings go through the host's logging like everything else (one line each on the
        // console of `cadstream node`/`demo`), not to stdout by Akka's own console logger.
        builder.ConfigureLoggers(loggers =>
        {
            loggers.LogLevel = Akka.Event.LogLevel.WarningLevel;
            loggers.ClearLoggers();
            loggers.AddLoggerFactory();
        });
        builder.WithCadStreamRemoting(node)
            .WithClustering(new ClusterOptions
            {
                Roles = node.Roles,
                SeedNodes = node.SeedAddresses(),
                // Keep the side with the oldest node (the seed, which runs ingress in every layout we ship), with
                // down-if-alone: in a cluster of two, losing the other node keeps the oldest running (keep-majority
                // downed the demo node when a joined trainer died: a tie goes to the lowest address); in three or
                // more, an oldest that is cut off alone downs itself and the rest carry on. A node on the downed
                // side leaves for good: its actor system ends and the node exits with code 1.
                SplitBrainResolver = new KeepOldestOption { DownIfAlone = true },
            });

        var extractor = new TrainerMessageExtractor();
        if (node.Has("trainer"))
            builder.WithShardRegion<TrainerRegion>("trainer", id => TrainerActor.PropsFor(id, catalog, services.Store, services.Trainers), extractor,
                new ShardOptions
                {
                    Role = "trainer",
                    RememberEntities = true,
                    StateStoreMode = StateStoreMode.DData,
                    RememberEntitiesStore = RememberEntitiesStore.DData,
                    HandOffStopMessage = TrainerActor.Stop.Instance,
                });
        else
            builder.WithShardRegionProxy<TrainerRegion>("trainer", "trainer", extractor);

        builder.WithActors((system, registry) =>
        {
            var trainers = registry.Get<TrainerRegion>();
            if (node.Has("scorer"))
                system.ActorOf(ScorerActor.PropsFor(new ScorerServices(catalog, services.Tables, services.CoherenceModels, services.TextAgreementModels), trainers)
                    .WithRouter(new RoundRobinPool(Math.Max(1, services.Scoring.PoolSize))), "scorers");
            // The ingest actor belongs to one consumer run (the ingress service makes both together), so that
            // its memory of batches in flight and the consumer's commit ledger start over together.
            if (node.Has("ingress"))
                registry.Register<ScorerRouterKey>(system.ActorOf(Props.Empty.WithRouter(new ClusterRouterGroup(new RoundRobinGroup("/user/scorers"),
                    new ClusterRouterGroupSettings(10_000, ["/user/scorers"], allowLocalRoutees: true, useRole: "scorer"))), "scorer-router"));
            // Without seed nodes this node founds the cluster (single-node demo, first node of a test).
            if (node.SeedNodes.Length == 0) Cluster.Get(system).Join(Cluster.Get(system).SelfAddress);
            // The configured models train from cluster start on (also after a full restart).
            Cluster.Get(system).RegisterOnMemberUp(() =>
            {
                foreach (var m in catalog.All) trainers.Tell(new ShardRegion.StartEntity(m.Id));
            });
        });
        return builder;
    }

    /// <summary>
    /// Remoting as every CadStream node has it: listening on the bind address and advertising the public one
    /// (they differ in containers: 0.0.0.0 and the host name), TLS when <see cref="NodeSettings.Tls"/> names a
    /// certificate, and the messages between nodes bound to <see cref="ClusterMessageSerializer"/>.
    /// </summary>
    public static AkkaConfigurationBuilder WithCadStreamRemoting(this AkkaConfigurationBuilder builder, NodeSettings node)
    {
        builder.AddHocon(ClusterMessageSerializer.Hocon, HoconAddMode.Prepend);
        var remote = new RemoteOptions { HostName = node.EffectiveBindHostname, Port = node.Port, PublicHostName = node.PublicHostname() };
        if (node.Tls.Enabled)
        {
            remote.EnableSsl = true;
            remote.Ssl = RemotingTls.SslOptionsFor(node.Tls);
        }
        return builder.WithRemoting(remote);
    }
}
