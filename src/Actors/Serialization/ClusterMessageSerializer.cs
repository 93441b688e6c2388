using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using CadStream.Actors.Scoring;
using CadStream.Actors.Training;
using CadStream.Records.Coherence;
using Google.Protobuf;
using P = CadStream.Actors.Serialization.Protocol;

namespace CadStream.Actors.Serialization;

/// <summary>
/// The one serializer of every message that crosses nodes (<see cref="IClusterMessage"/>): protobuf
/// (cluster_messages.proto beside this file) under a short manifest per type, so the wire carries no
/// .NET type names and nothing reflection-based decides what a remote peer may make us build. Pixels
/// travel as raw bytes; actor references as their serialization paths, resolved on arrival. Bound by
/// <see cref="Hocon"/> (<see cref="CadStreamCluster"/> adds it to every node's actor system).
/// </summary>
public sealed class ClusterMessageSerializer : SerializerWithStringManifest
{
    public ClusterMessageSerializer(ExtendedActorSystem system) : base(system) { }

    /// <summary>Akka's serializer id on the wire; never change it (nodes of a cluster must agree).</summary>
    public const int SerializerId = 8601;

    /// <summary>The serializer and its binding to <see cref="IClusterMessage"/>, for an actor system's configuration.</summary>
    public static readonly string Hocon = $$"""
        akka.actor {
          serializers.cadstream = "{{typeof(ClusterMessageSerializer).FullName}}, {{typeof(ClusterMessageSerializer).Assembly.GetName().Name}}"
          serialization-bindings {
            "{{typeof(IClusterMessage).FullName}}, {{typeof(IClusterMessage).Assembly.GetName().Name}}" = cadstream
          }
          serialization-identifiers {
            "{{typeof(ClusterMessageSerializer).FullName}}, {{typeof(ClusterMessageSerializer).Assembly.GetName().Name}}" = {{SerializerId}}
          }
        }
        """;

    // Manifests are part of the wire format: never rename one; a changed message keeps its manifest
    // and grows new fields, an incompatible one gets a new manifest.
    const string PairToScoreManifest = "pair-to-score", ScorePairsManifest = "score-pairs", ScoredPairManifest = "scored-pair",
        TrainPairsManifest = "train-pairs", BatchesDurableManifest = "batches-durable", BatchHeldManifest = "batch-held",
        BatchesLostManifest = "batches-lost", GetTrainerStatusManifest = "get-trainer-status", TrainerStatusManifest = "trainer-status";

    public override int Identifier => SerializerId;

    public override string Manifest(object o) => o switch
    {
        PairToScore => PairToScoreManifest,
        ScorePairs => ScorePairsManifest,
        ScoredPair => ScoredPairManifest,
        TrainPairs => TrainPairsManifest,
        BatchesDurable => BatchesDurableManifest,
        BatchHeld => BatchHeldManifest,
        BatchesLost => BatchesLostManifest,
        GetTrainerStatus => GetTrainerStatusManifest,
        TrainerStatus => TrainerStatusManifest,
        _ => throw new ArgumentException($"{nameof(ClusterMessageSerializer)} has no manifest for {o.GetType().FullName}; add it (and its protobuf message) before it crosses nodes"),
    };

    public override byte[] ToBinary(object obj) => (obj switch
    {
        PairToScore m => (IMessage)Write(m),
        ScorePairs m => new P.ScorePairs { BatchId = m.BatchId, AckTo = PathOf(m.AckTo), Pairs = { m.Pairs.Select(Write) } },
        ScoredPair m => Write(m),
        TrainPairs m => new P.TrainPairs
        {
            ModelId = m.ModelId, BatchId = m.BatchId, AckTo = PathOf(m.AckTo), Pairs = { m.Pairs.Select(Write) },
            CoherenceBins = m.Bins is null ? ByteString.Empty : ByteString.CopyFrom(m.Bins.ToBytes()),
        },
        BatchesDurable m => new P.BatchesDurable { ModelId = m.ModelId, BatchIds = { m.BatchIds }, SnapshotVersion = m.SnapshotVersion },
        BatchHeld m => new P.BatchHeld { ModelId = m.ModelId, BatchId = m.BatchId, Holder = PathOf(m.Holder) },
        BatchesLost m => new P.BatchesLost { ModelId = m.ModelId, BatchIds = { m.BatchIds } },
        GetTrainerStatus m => new P.GetTrainerStatus { ModelId = m.ModelId },
        TrainerStatus m => Write(m),
        _ => throw new ArgumentException($"{nameof(ClusterMessageSerializer)} cannot serialize {obj.GetType().FullName}"),
    }).ToByteArray();

    public override object FromBinary(byte[] bytes, string manifest) => manifest switch
    {
        PairToScoreManifest => Read(P.PairToScore.Parser.ParseFrom(bytes)),
        ScorePairsManifest => Read(P.ScorePairs.Parser.ParseFrom(bytes)),
        ScoredPairManifest => Read(P.ScoredPair.Parser.ParseFrom(bytes)),
        TrainPairsManifest => Read(P.TrainPairs.Parser.ParseFrom(bytes)),
        BatchesDurableManifest => Read(P.BatchesDurable.Parser.ParseFrom(bytes)),
        BatchHeldManifest => Read(P.BatchHeld.Parser.ParseFrom(bytes)),
        BatchesLostManifest => Read(P.BatchesLost.Parser.ParseFrom(bytes)),
        GetTrainerStatusManifest => new GetTrainerStatus(P.GetTrainerStatus.Parser.ParseFrom(bytes).ModelId),
        TrainerStatusManifest => Read(P.TrainerStatus.Parser.ParseFrom(bytes)),
        _ => throw new SerializationException($"{nameof(ClusterMessageSerializer)}: unknown manifest '{manifest}' (a node of a newer version?)"),
    };

    ScorePairs Read(P.ScorePairs p) => new(p.BatchId, Resolve(p.AckTo), p.Pairs.Select(Read).ToArray());
    TrainPairs Read(P.TrainPairs p) => new(p.ModelId, p.BatchId, Resolve(p.AckTo), p.Pairs.Select(Read).ToArray(),
        p.CoherenceBins.IsEmpty ? null : CoherenceBins.FromBytes(p.CoherenceBins.Span));
    BatchHeld Read(P.BatchHeld p) => new(p.ModelId, p.BatchId, Resolve(p.Holder));
    static BatchesDurable Read(P.BatchesDurable p) => new(p.ModelId, p.BatchIds.ToArray(), p.SnapshotVersion);
    static BatchesLost Read(P.BatchesLost p) => new(p.ModelId, p.BatchIds.ToArray());

    static P.PairToScore Write(PairToScore m)
    {
        var p = new P.PairToScore { Id = m.Id, ModelIds = { m.ModelIds }, Label = m.Label ?? 0, NoLabel = m.Label is null, Pixels = UnsafeByteOperations.UnsafeWrap(m.Pixels) };
        if (m.Coherence is float c) p.Coherence = c;
        if (m.Score is double s) p.Score = s;
        if (m.Caption is not null) p.Caption = m.Caption;
        return p;
    }

    static PairToScore Read(P.PairToScore p) =>
        new(p.Id, p.ModelIds.ToArray(), p.NoLabel ? null : p.Label, p.HasCoherence ? p.Coherence : null, p.HasScore ? p.Score : null, p.Pixels.ToByteArray(),
            p.HasCaption ? p.Caption : null);

    // The pixels are only read after this, never changed: wrapping them spares a copy of every image.
    static P.ScoredPair Write(ScoredPair m)
    {
        var p = new P.ScoredPair { Id = m.Id, Pixels = UnsafeByteOperations.UnsafeWrap(m.Pixels), Label = m.Label ?? 0, NoLabel = m.Label is null, Coherence = m.Coherence };
        if (m.Caption is not null) p.Caption = m.Caption;
        return p;
    }

    static ScoredPair Read(P.ScoredPair p) =>
        new(p.Id, p.Pixels.ToByteArray(), p.NoLabel ? null : p.Label, p.Coherence, p.HasCaption ? p.Caption : null);

    static P.TrainerStatus Write(TrainerStatus m)
    {
        var p = new P.TrainerStatus
        {
            ModelId = m.ModelId, Steps = m.Steps, SamplesSeen = m.SamplesSeen, SkippedSteps = m.SkippedSteps, Loss = m.Loss,
            SnapshotVersion = m.SnapshotVersion, BufferedPairs = m.BufferedPairs, FreshPairs = m.FreshPairs, Node = m.Node,
            HasCoherenceCounts = m.CoherenceCounts is not null,
        };
        if (m.CoherenceCounts is { } counts) p.CoherenceCounts.AddRange(counts);
        return p;
    }

    static TrainerStatus Read(P.TrainerStatus p) => new(p.ModelId, p.Steps, p.SamplesSeen, p.SkippedSteps, p.Loss, p.SnapshotVersion,
        p.BufferedPairs, p.FreshPairs, p.Node, p.HasCoherenceCounts ? p.CoherenceCounts.ToArray() : null);

    static string PathOf(IActorRef actor) => Akka.Serialization.Serialization.SerializedActorPath(actor);

    IActorRef Resolve(string path) => system.Provider.ResolveActorRef(path);
}
