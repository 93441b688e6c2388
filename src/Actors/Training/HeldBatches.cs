using Akka.Actor;
using CadStream.Actors.Training.Conditions;

namespace CadStream.Actors.Training;

/// <summary>
/// A trainer entity's batch bookkeeping: every batch it was sent and has not stored yet, by id (ids grow
/// with time, so a new worker is given them again in order), with what its kind prepared for it. A stored
/// snapshot releases its batches (their senders are told); a lost entity gives them all back. Used on the
/// entity's thread only.
/// </summary>
internal sealed class HeldBatches
{
    private readonly SortedDictionary<long, TrainPairs> held = new();
    // Held batches whose kind prepared them (a text model's, encoded): a batch that needs it is posted once prepared.
    private readonly Dictionary<long, PreparedCondition[]> prepared = new();

    /// <summary>The held batches in id order: what a new worker is given.</summary>
    public IEnumerable<TrainPairs> All => held.Values;

    /// <summary>
    /// Holds <paramref name="batch"/>; false when it was held already (sent again after a lost acknowledgement):
    /// then only its reply address is updated, and it is not queued twice.
    /// </summary>
    public bool Hold(TrainPairs batch)
    {
        bool known = held.ContainsKey(batch.BatchId);
        held[batch.BatchId] = batch;
        return !known;
    }

    public bool TryGet(long batchId, out TrainPairs batch) => held.TryGetValue(batchId, out batch!);

    public void Prepared(long batchId, PreparedCondition[] conditions) => prepared[batchId] = conditions;

    public bool TryGetPrepared(long batchId, out PreparedCondition[]? conditions) => prepared.TryGetValue(batchId, out conditions);

    /// <summary>A stored snapshot reflects these batches: they are let go, grouped by the sender to tell.</summary>
    public List<(IActorRef AckTo, long[] BatchIds)> Release(IEnumerable<long> stored)
    {
        var released = new List<(IActorRef, long[])>();
        foreach (var group in stored.Where(held.ContainsKey).GroupBy(id => held[id].AckTo))
        {
            var ids = group.ToArray();
            foreach (var id in ids) { held.Remove(id); prepared.Remove(id); }
            released.Add((group.Key, ids));
        }
        return released;
    }

    /// <summary>Forgets every batch (the entity restarts and loses them), grouped by the sender to tell.</summary>
    public List<(IActorRef AckTo, long[] BatchIds)> Drop()
    {
        var dropped = held.Values.GroupBy(b => b.AckTo).Select(g => (g.Key, g.Select(b => b.BatchId).ToArray())).ToList();
        held.Clear();
        prepared.Clear();
        return dropped;
    }
}
