using Akka.Actor;
using Akka.Cluster;

namespace CadStream.Actors.Ingest;

/// <summary>
/// Who may send the messages that move Kafka commits (<see cref="Training.BatchesDurable"/>,
/// <see cref="Training.BatchHeld"/>, <see cref="Training.BatchesLost"/>): an actor of this node, or of a
/// cluster member that is Up, Leaving or Exiting (a trainer hands off and stores its final snapshot while
/// its node leaves). Remoting accepts messages from any system that can reach the port, member or not;
/// without this check such a system could have offsets committed over pairs no snapshot reflects.
/// </summary>
public static class ClusterSenders
{
    public static bool IsMember(IActorRef? sender, ActorSystem system)
    {
        // A message sent without a sender arrives with this system's dead letters as its sender: a local
        // address, but no actor of ours sent it (trainers always reply as themselves).
        if (sender is null || sender.IsNobody() || sender.Equals(system.DeadLetters)) return false;
        var address = sender.Path.Address;
        if (address.HasLocalScope) return true;
        if (((ExtendedActorSystem)system).Provider is not ClusterActorRefProvider) return false;
        var cluster = Cluster.Get(system);
        if (address.Equals(cluster.SelfAddress)) return true;
        foreach (var m in cluster.State.Members)
            if (m.Address.Equals(address)) return m.Status is MemberStatus.Up or MemberStatus.Leaving or MemberStatus.Exiting;
        return false;
    }
}
