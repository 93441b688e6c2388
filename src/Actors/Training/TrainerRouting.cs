using Akka.Cluster.Sharding;

namespace CadStream.Actors.Training;

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
