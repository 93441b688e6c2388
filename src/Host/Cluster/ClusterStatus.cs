using Akka.Actor;
using Akka.Hosting;
using CadStream.Actors;
using CadStream.Actors.Training;
using CadStream.Catalog;
using CadStream.Ingress.Kafka;
using CadStream.Serving;
using Microsoft.Extensions.DependencyInjection;

namespace CadStream.Host.Cluster;

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
