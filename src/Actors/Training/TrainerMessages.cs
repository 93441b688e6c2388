using Akka.Actor;

namespace CadStream.Actors.Training;

/// <summary>One pair as a trainer sees it: the image at the model's shape (8-bit), its label and coherence.</summary>
public sealed record ScoredPair(byte[] Pixels, int Label, float Coherence);

/// <summary>
/// Pairs for one model's trainer (sharded by ModelId). AckTo hears <see cref="BatchesDurable"/>
/// once a stored snapshot reflects them. Kept small: remoting frames are limited to 128 kB.
/// </summary>
public sealed record TrainPairs(string ModelId, long BatchId, IActorRef AckTo, IReadOnlyList<ScoredPair> Pairs);

/// <summary>A stored snapshot of ModelId reflects these batches: their offsets may be committed.</summary>
public sealed record BatchesDurable(string ModelId, IReadOnlyList<long> BatchIds, long SnapshotVersion);

/// <summary>Asks a trainer for its counters; answered with <see cref="TrainerStatus"/>.</summary>
public sealed record GetTrainerStatus(string ModelId);

/// <param name="CoherenceCounts">The coherence of the most recent pairs, counted in ten bins of width 0.1 (the last bin holds c = 1).</param>
public sealed record TrainerStatus(string ModelId, long Steps, long SamplesSeen, long SkippedSteps, double Loss,
    long SnapshotVersion, int BufferedPairs, int FreshPairs, string Node, int[]? CoherenceCounts = null);
