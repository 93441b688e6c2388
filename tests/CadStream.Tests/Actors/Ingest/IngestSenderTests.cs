using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using CadStream.Actors.Ingest;
using CadStream.Actors.Scoring;
using CadStream.Actors.Serialization;
using CadStream.Actors.Training;
using CadStream.Host.Cluster;
using CadStream.Ingress;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;
using AkkaCluster = Akka.Cluster.Cluster;

namespace CadStream.Tests.Actors.Ingest;

/// <summary>
/// The messages that move Kafka commits are believed only from this node or a cluster member: an actor
/// system that merely reaches the remoting port (not in the cluster) cannot have offsets committed.
/// </summary>
public sealed class IngestSenderTests
{
    sealed class Scorers : ReceiveActor
    {
        public Scorers(ConcurrentQueue<ScorePairs> seen) => Receive<ScorePairs>(m => seen.Enqueue(m));
    }

    static ActorSystem System(string name, string provider) => ActorSystem.Create(name, ConfigurationFactory.ParseString($$"""
            akka.actor.provider = {{provider}}
            akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
            akka.loglevel = WARNING
            akka.coordinated-shutdown.exit-clr = off
            """).WithFallback(ConfigurationFactory.ParseString(ClusterMessageSerializer.Hocon)));

    static double RefusedCount(string message) => IngestActor.Refused.WithLabels(message).Value;

    [Fact]
    public async Task A_system_outside_the_cluster_cannot_move_commits_and_a_member_can()
    {
        using var node = System("ingest-node", "cluster");
        using var foreign = System("foreign", "remote");
        var cluster = AkkaCluster.Get(node);
        cluster.Join(cluster.SelfAddress);
        await WaitUntilAsync(() => cluster.SelfMember.Status == Akka.Cluster.MemberStatus.Up, TimeSpan.FromSeconds(20), () => "the node to be up");

        var scored = new ConcurrentQueue<ScorePairs>();
        var durable = new ConcurrentQueue<RecordPosition>();
        var lines = new ConcurrentQueue<string>();
        var scorers = node.ActorOf(Props.Create(() => new Scorers(scored)), "scorers");
        var ingest = node.ActorOf(IngestActor.PropsFor(scorers, positions => { foreach (var p in positions) durable.Enqueue(p); },
            new IngestActor.Options { BatchSize = 1 }, new LineLoggerProvider(lines.Enqueue).CreateLogger("ingest")), "ingest");

        var position = new RecordPosition(IngressTopics.Pairs, 0, 17);
        ingest.Tell(new IngestActor.Accepted(new IncomingPair("p-1", ["m"], 3, 1f, null, new byte[784], 1, 28, 28, position)));
        await WaitUntilAsync(() => !scored.IsEmpty, TimeSpan.FromSeconds(10), () => "the batch at the scorers");
        long batch = scored.Single().BatchId;

        // From a system that reaches the port but is no member: with a sender, and without one.
        double durableBefore = RefusedCount(nameof(BatchesDurable)), heldBefore = RefusedCount(nameof(BatchHeld)), lostBefore = RefusedCount(nameof(BatchesLost));
        var intruder = foreign.ActorOf(Props.Empty, "intruder");
        var remoteIngest = foreign.ActorSelection($"{cluster.SelfAddress}/user/ingest");
        remoteIngest.Tell(new BatchesDurable("m", [batch], 1), intruder);
        remoteIngest.Tell(new BatchesDurable("m", [batch], 2), ActorRefs.NoSender);
        remoteIngest.Tell(new BatchHeld("m", batch, intruder), intruder);
        remoteIngest.Tell(new BatchesLost("m", [batch]), intruder);
        await WaitUntilAsync(() => RefusedCount(nameof(BatchesDurable)) - durableBefore >= 2 && RefusedCount(nameof(BatchHeld)) - heldBefore >= 1
                                   && RefusedCount(nameof(BatchesLost)) - lostBefore >= 1, TimeSpan.FromSeconds(20),
            () => $"the foreign messages to be refused ({RefusedCount(nameof(BatchesDurable)) - durableBefore} durable, {RefusedCount(nameof(BatchHeld)) - heldBefore} held)");
        Assert.Empty(durable);
        // BatchesLost was refused too: nothing was sent again.
        Assert.Single(scored);
        // Four refusals within the rate limit: one warning, naming what was dropped.
        var warning = Assert.Single(lines, l => l.Contains("dropped", StringComparison.Ordinal));
        Assert.Contains("neither on this node nor a cluster member", warning);

        // A member that does not hold the batch (another trainer, a forged sender on a member node) cannot commit it.
        var trainer = node.ActorOf(Props.Empty, "trainer");
        var other = node.ActorOf(Props.Empty, "other-trainer");
        ingest.Tell(new BatchHeld("m", batch, trainer), trainer);
        durableBefore = RefusedCount(nameof(BatchesDurable));
        heldBefore = RefusedCount(nameof(BatchHeld));
        ingest.Tell(new BatchHeld("m", batch, trainer), other);        // speaking for the holder
        ingest.Tell(new BatchesDurable("m", [batch], 3), other);
        await WaitUntilAsync(() => RefusedCount(nameof(BatchesDurable)) - durableBefore >= 1 && RefusedCount(nameof(BatchHeld)) - heldBefore >= 1,
            TimeSpan.FromSeconds(10), () => "the non-owner's messages to be refused");
        Assert.Empty(durable);

        // The holder's own message moves the commit.
        ingest.Tell(new BatchesDurable("m", [batch], 3), trainer);
        await WaitUntilAsync(() => !durable.IsEmpty, TimeSpan.FromSeconds(10), () => "the local acknowledgement to make the batch durable");
        Assert.Equal(position, Assert.Single(durable));
    }

    [Fact]
    public async Task Senders_are_members_by_address_and_status()
    {
        using var node = System("member-check", "cluster");
        var cluster = AkkaCluster.Get(node);
        var local = node.ActorOf(Props.Empty, "local");
        // Before joining: local actors yes, dead letters (a message without a sender) never.
        Assert.True(ClusterSenders.IsMember(local, node));
        Assert.False(ClusterSenders.IsMember(node.DeadLetters, node));
        Assert.False(ClusterSenders.IsMember(ActorRefs.Nobody, node));
        Assert.False(ClusterSenders.IsMember(null, node));
        cluster.Join(cluster.SelfAddress);
        await WaitUntilAsync(() => cluster.SelfMember.Status == Akka.Cluster.MemberStatus.Up, TimeSpan.FromSeconds(20), () => "the node to be up");
        var provider = ((ExtendedActorSystem)node).Provider;
        Assert.True(ClusterSenders.IsMember(provider.ResolveActorRef($"{cluster.SelfAddress}/user/local"), node));
        Assert.False(ClusterSenders.IsMember(provider.ResolveActorRef("akka.tcp://member-check@127.0.0.1:1/user/trainer"), node));
    }
}
