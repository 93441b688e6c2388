using Akka.Actor;
using CadStream.Records.Coherence;

namespace CadStream.Actors.Training;

/// <summary>
/// A message that may travel between nodes. Every such type is bound to CadStream's own serializer
/// (no reflection-based default), so the remoting layer accepts exactly these and nothing else.
/// </summary>
public interface IClusterMessage;

/// <summary>
/// One pair as a trainer sees it: its id, the image at the model's shape (8-bit), its coherence, and the
/// condition of the model's kind: <paramref name="Label"/> (a class model's, always there) or
/// <paramref name="Caption"/> (a text model's, always there; such a pair may carry a label too).
/// </summary>
public sealed record ScoredPair(string Id, byte[] Pixels, int? Label, float Coherence, string? Caption = null) : IClusterMessage;

/// <summary>
/// Pairs for one model's trainer (sharded by ModelId). AckTo hears <see cref="BatchesDurable"/>
/// once a stored snapshot reflects them. <paramref name="Bins"/> is the bin table the coherences that came
/// from raw scores were binned with (null when none did): what those coherences mean, for the trainer's
/// snapshot. Kept small (batches of 32): remoting frames are limited to 1 MiB.
/// </summary>
public sealed record TrainPairs(string ModelId, long BatchId, IActorRef AckTo, IReadOnlyList<ScoredPair> Pairs, CoherenceBins? Bins = null) : IClusterMessage;

/// <summary>A stored snapshot of ModelId reflects these batches: their offsets may be committed.</summary>
public sealed record BatchesDurable(string ModelId, IReadOnlyList<long> BatchIds, long SnapshotVersion) : IClusterMessage;

/// <summary>The trainer entity <paramref name="Holder"/> of ModelId has the batch and keeps it until it is stored (the sender watches the holder).</summary>
public sealed record BatchHeld(string ModelId, long BatchId, IActorRef Holder) : IClusterMessage;

/// <summary>The trainer of ModelId lost these batches before storing them (it restarted): send them again.</summary>
public sealed record BatchesLost(string ModelId, IReadOnlyList<long> BatchIds) : IClusterMessage;

/// <summary>Asks a trainer for its counters; answered with <see cref="TrainerStatus"/>.</summary>
public sealed record GetTrainerStatus(string ModelId) : IClusterMessage;

/// <param name="CoherenceCounts">The coherence of the most recent pairs, counted in ten bins of width 0.1 (the last bin holds c = 1).</param>
public sealed record TrainerStatus(string ModelId, long Steps, long SamplesSeen, long SkippedSteps, double Loss,
    long SnapshotVersion, int BufferedPairs, int FreshPairs, string Node, int[]? CoherenceCounts = null) : IClusterMessage;
