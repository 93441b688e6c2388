using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using CadStream.Model.Catalog;
using CadStream.Model.Snapshots;
using static TorchSharp.torch;

namespace CadStream.Actors.Training;

/// <summary>
/// The sharded trainer entity of one model (entity id = model id), hosted on trainer nodes only.
/// It owns a <see cref="TrainerLoop"/>; when its node dies the entity is re-created elsewhere
/// (remember entities) and the loop resumes from the newest stored snapshot.
/// </summary>
public sealed class TrainerActor : ReceiveActor
{
    private readonly ILoggingAdapter log = Context.GetLogger();
    private readonly Dictionary<long, IActorRef> ackTo = new();
    private TrainerLoop? loop;

    public TrainerActor(string modelId, ModelCatalog catalog, ISnapshotStore store, Device device, int threads)
    {
        if (!catalog.TryGet(modelId, out var spec))
        {
            log.Warning("trainer for unknown model {0}: not in the configured catalog, stopping", modelId);
            Context.Stop(Self);
            return;
        }
        var self = Self;
        // Warning level: starts and resumes are rare and matter (a resume means a node was lost).
        // The node is the cluster address: several nodes can share one machine name (or one process, in tests).
        loop = new TrainerLoop(spec, store, device, durable => self.Tell(durable), msg => log.Warning(msg),
            Akka.Cluster.Cluster.Get(Context.System).SelfAddress.ToString(), threads);
        loop.Start();

        Receive<TrainPairs>(m =>
        {
            // Ingress re-sends batches it has not heard back about in time, also to a trainer that is only
            // behind. One this entity still holds is not queued again: duplicates would pile more work on a
            // trainer that is already late, and every re-send round would make it later.
            bool held = ackTo.ContainsKey(m.BatchId);
            ackTo[m.BatchId] = m.AckTo;
            if (!held) loop.Enqueue(m);
        });
        Receive<BatchesDurable>(m =>
        {
            foreach (var group in m.BatchIds.GroupBy(id => ackTo.GetValueOrDefault(id)))
            {
                var ids = group.ToArray();
                foreach (var id in ids) ackTo.Remove(id);
                group.Key?.Tell(m with { BatchIds = ids });
            }
            if (loop.Failure is { } e) throw new InvalidOperationException($"trainer loop of {modelId} failed", e);
        });
        Receive<GetTrainerStatus>(_ =>
        {
            if (loop.Failure is { } e) throw new InvalidOperationException($"trainer loop of {modelId} failed", e);
            Sender.Tell(loop.Status);
        });
        Receive<Stop>(_ => Context.Stop(Self));
    }

    /// <summary>Hand-off message of the shard region: stop after storing a final snapshot.</summary>
    public sealed record Stop
    {
        public static readonly Stop Instance = new();
    }

    protected override void PostStop()
    {
        loop?.Dispose();  // stores a final snapshot of what was trained since the last one
        base.PostStop();
    }

    public static Props PropsFor(string modelId, ModelCatalog catalog, ISnapshotStore store, Device device, int threads = 0) =>
        Props.Create(() => new TrainerActor(modelId, catalog, store, device, threads));
}

/// <summary>Routes trainer messages to the entity of their model id.</summary>
public sealed class TrainerMessageExtractor() : HashCodeMessageExtractor(20)
{
    public override string? EntityId(object message) => message switch
    {
        TrainPairs m => m.ModelId,
        GetTrainerStatus m => m.ModelId,
        _ => null,
    };
}

/// <summary>Registry key of the trainer shard region (or its proxy on non-trainer nodes).</summary>
public sealed class TrainerRegion;
