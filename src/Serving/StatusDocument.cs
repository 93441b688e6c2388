using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using CadStream.Catalog.Judging;
using CadStream.Runtime;

namespace CadStream.Serving;

/// <summary>
/// Marks a field of <see cref="StatusDocument"/> that only nodes with one of <see cref="Roles"/> answer: on other
/// nodes it is absent (never null, never renamed), so one shape serves every mix of roles.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ForRolesAttribute(params string[] roles) : Attribute
{
    public IReadOnlyList<string> Roles { get; } = roles;
}

/// <summary>
/// GET /v1/status on every node, serving or not (docs/interfaces.md, "HTTP"). Fields without
/// <see cref="ForRolesAttribute"/> are answered by every node; a role's fields by the nodes with that role only,
/// written as null there while their value is not known yet (no snapshot loaded, no judge).
/// </summary>
public sealed record StatusDocument(
    StatusNode Node,
    StatusCluster Cluster,
    [property: ForRoles("ingress")] StatusKafka? Kafka,
    [property: ForRoles("trainer", "serving")] string? SnapshotStore,
    HealthStatus Health,
    [property: ForRoles("serving")] StatusJudge? SampleJudge,
    IReadOnlyList<StatusModel> Models)
{
    /// <summary>
    /// The document of a node: <paramref name="node"/> from its status provider; <paramref name="served"/> when it
    /// has the serving role (then <c>models</c> lists its served models, else the catalog's <paramref name="modelIds"/>).
    /// </summary>
    public static StatusDocument Of(NodeStatus node, NodeHealth health, DateTimeOffset startedAt, string? snapshotStore,
        IEnumerable<string> modelIds, ServingRuntime? served = null)
    {
        var models = served is null
            ? modelIds.Select(id => new StatusModel(id, Training: StatusTraining.Of(node.Training.GetValueOrDefault(id)))).ToArray()
            : served.Hosts.Values.Select(h => StatusModel.Served(h, node.Training.GetValueOrDefault(h.ModelId), served)).ToArray();
        return new StatusDocument(
            new StatusNode(node.NodeId, node.Roles, Math.Round((DateTimeOffset.UtcNow - startedAt).TotalSeconds, 1)),
            new StatusCluster(node.Members),
            new StatusKafka(node.KafkaBootstrap, node.KafkaClient, node.ConsumerLag, node.ConsumerLag.Sum(l => l.Lag)),
            snapshotStore,
            HealthStatus.Of(health),
            served?.Quality.Judge is { } judge ? StatusJudge.Of(judge) : null,
            models);
    }

    static readonly ConcurrentDictionary<string, JsonSerializerOptions> OptionsByRoles = new(StringComparer.Ordinal);

    /// <summary>
    /// How a node with <paramref name="roles"/> writes the document: the web's camelCase, and the fields of roles it
    /// lacks left out. Made once per mix of roles (there are at most 15), since options cache what they learn of each type.
    /// </summary>
    public static JsonSerializerOptions JsonFor(IReadOnlyList<string> roles)
    {
        var mine = roles.Select(r => r.Trim().ToLowerInvariant()).Distinct().Order(StringComparer.Ordinal).ToArray();
        return OptionsByRoles.GetOrAdd(string.Join(',', mine), _ => new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { info => LeaveOutOtherRoles(info, mine) } },
        });
    }

    static void LeaveOutOtherRoles(JsonTypeInfo info, IReadOnlyList<string> roles)
    {
        if (info.Kind != JsonTypeInfoKind.Object) return;
        foreach (var p in info.Properties)
            if (p.AttributeProvider?.GetCustomAttributes(typeof(ForRolesAttribute), inherit: true) is [ForRolesAttribute only, ..]
                && !only.Roles.Any(roles.Contains))
                p.ShouldSerialize = static (_, _) => false;
    }
}

public sealed record StatusNode(string Id, IReadOnlyList<string> Roles, double UptimeSeconds);

/// <param name="Members">Each member as "address [roles] status".</param>
public sealed record StatusCluster(IReadOnlyList<string> Members);

/// <param name="Client">Kafka:Client as it may be shown: secret values are "(redacted)".</param>
public sealed record StatusKafka(string? Bootstrap, IReadOnlyDictionary<string, string> Client, IReadOnlyList<ConsumerLag> ConsumerLag, long TotalLag);

/// <summary>Where the judge of the live samples stands (the demo trains its classifier in the background, and readings wait for it).</summary>
/// <param name="State">ready, preparing or failed.</param>
public sealed record StatusJudge(string State, bool Ready, double? Progress, string Text)
{
    public static StatusJudge Of(JudgeState judge) => new(judge.Readiness.ToString().ToLowerInvariant(), judge.Ready, judge.Progress, judge.Text);
}

/// <summary>
/// One model: its id and training figures (from whichever node trains it) on every node; what a serving node serves of it
/// (the snapshot, the queue, the live sample quality) on serving nodes only.
/// </summary>
public sealed record StatusModel(
    string Id,
    [property: ForRoles("serving")] long? SnapshotVersion = null,
    [property: ForRoles("serving")] long? Steps = null,
    [property: ForRoles("serving")] long? SamplesSeen = null,
    [property: ForRoles("serving")] long? Updated = null,
    StatusTraining? Training = null,
    [property: ForRoles("serving")] int? Queue = null,
    [property: ForRoles("serving")] long? BatchesRun = null,
    [property: ForRoles("serving")] long? ImagesSampled = null,
    [property: ForRoles("serving")] string? LastError = null,
    [property: ForRoles("serving")] long? PinnedVersion = null,
    [property: ForRoles("serving")] StatusQuality? SampleQuality = null)
{
    public static StatusModel Served(ModelHost h, TrainingStatus? training, ServingRuntime runtime)
    {
        var s = h.Current;
        return new StatusModel(h.ModelId, s?.Version, s?.Steps, s?.Samples, s?.Created, StatusTraining.Of(training),
            h.QueueLength, h.BatchesRun, h.ImagesSampled, runtime.Follower.LastErrors.GetValueOrDefault(h.ModelId), h.PinnedVersion,
            runtime.Quality.Latest(h.ModelId) is { } q ? new StatusQuality(q.SnapshotVersion, q.Accuracy, q.AccuracyAtZero, q.At, q.Images) : null);
    }
}

/// <summary>A model's trainer as it last answered: where it runs, how far it is, and the coherence of its recent pairs.</summary>
/// <param name="Node">The address of the node that trains it.</param>
/// <param name="CoherenceCounts">The trainer's recent pairs in ten coherence bins of width 0.1.</param>
public sealed record StatusTraining(long Steps, long SamplesSeen, double? Loss, double? StepsPerSecond, long? SnapshotVersion, string? Node,
    int[]? CoherenceCounts)
{
    public static StatusTraining? Of(TrainingStatus? t) =>
        t is null ? null : new(t.Steps, t.SamplesSeen, t.Loss, t.StepsPerSecond, t.SnapshotVersion, t.Node, t.CoherenceCounts);
}

/// <summary>The latest live sample quality reading of a model.</summary>
/// <param name="At">Unix milliseconds.</param>
public sealed record StatusQuality(long SnapshotVersion, double? Accuracy, double? AccuracyAtZero, long At, int Images);

/// <summary>The node's long-lived parts and where each stands.</summary>
public sealed record HealthStatus(bool Healthy, string? Problem, IReadOnlyList<HealthPart> Parts)
{
    public static HealthStatus Of(NodeHealth health) => new(health.IsHealthy, health.Problem,
        health.Parts.Select(p => new HealthPart(p.Part, p.State.ToString().ToLowerInvariant(), p.Failures, p.LastError, p.Since.ToUnixTimeMilliseconds())).ToArray());
}

/// <param name="State">starting, running, restarting or failed.</param>
/// <param name="Since">Unix milliseconds.</param>
public sealed record HealthPart(string Part, string State, int Failures, string? LastError, long Since);
