namespace CadStream.Serving;

/// <summary>Lag of the ingress consumer group on one partition.</summary>
public sealed record ConsumerLag(string Topic, int Partition, long Lag);

/// <summary>Live training figures of one model, where this node (or the cluster) knows them.</summary>
/// <param name="Node">Which cluster node trains the model (its address), where known.</param>
/// <param name="CoherenceCounts">Coherence of the trainer's most recent pairs in ten bins of width 0.1.</param>
public sealed record TrainingStatus(long Steps, long SamplesSeen, double? Loss = null, double? StepsPerSecond = null, string? Node = null,
    long? SnapshotVersion = null, int[]? CoherenceCounts = null);

/// <summary>What /v1/status reports about the node and cluster, besides the served snapshots and health (<see cref="StatusDocument"/>).</summary>
public sealed record NodeStatus
{
    public string NodeId { get; init; } = Environment.MachineName;
    public IReadOnlyList<string> Roles { get; init; } = ["serving"];
    public IReadOnlyList<string> Members { get; init; } = [];
    public string? KafkaBootstrap { get; init; }
    /// <summary>The pass-through Kafka client settings (Kafka:Client), secret values replaced by "(redacted)"; empty when none.</summary>
    public IReadOnlyDictionary<string, string> KafkaClient { get; init; } = new Dictionary<string, string>();
    public IReadOnlyList<ConsumerLag> ConsumerLag { get; init; } = [];
    /// <summary>By model id.</summary>
    public IReadOnlyDictionary<string, TrainingStatus> Training { get; init; } = new Dictionary<string, TrainingStatus>();
}

/// <summary>
/// Supplies node roles, cluster members, Kafka and training figures to /v1/status. The host wires
/// a provider that knows them (cluster, ingress, trainer); <see cref="StaticNodeStatus"/> is the default.
/// Called on every status request: keep it cheap and thread-safe.
/// </summary>
public interface INodeStatus
{
    NodeStatus Current();
}

/// <summary>A fixed status: a lone serving node unless told otherwise.</summary>
public sealed class StaticNodeStatus(NodeStatus? status = null) : INodeStatus
{
    private readonly NodeStatus status = status ?? new NodeStatus();
    public NodeStatus Current() => status;
}
