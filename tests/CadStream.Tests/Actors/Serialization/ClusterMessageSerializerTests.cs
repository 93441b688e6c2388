using System.Collections;
using System.Reflection;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Configuration;
using CadStream.Actors.Serialization;
using CadStream.Actors.Training;
using AkkaSerialization = Akka.Serialization.Serialization;

namespace CadStream.Tests.Actors.Serialization;

/// <summary>An actor system configured as a node's (cluster provider, remoting, CadStream's and sharding's serializers).</summary>
public sealed class SerializationSystem : IDisposable
{
    public ActorSystem System { get; }
    public IActorRef Somebody { get; }

    public SerializationSystem()
    {
        System = ActorSystem.Create("serialization", ConfigurationFactory.ParseString("""
                akka.actor.provider = cluster
                akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
                akka.loglevel = WARNING
                """)
            .WithFallback(ConfigurationFactory.ParseString(ClusterMessageSerializer.Hocon))
            .WithFallback(ClusterSharding.DefaultConfig()));
        Somebody = System.ActorOf(Props.Empty, "somebody");
    }

    public void Dispose() => System.Terminate().Wait(TimeSpan.FromSeconds(20));
}

/// <summary>
/// Every message that crosses nodes (every <see cref="IClusterMessage"/>, found by reflection, so a new
/// one without a binding fails here) goes through CadStream's serializer, never Akka's JSON fallback,
/// and comes back equal, field by field.
/// </summary>
public sealed class ClusterMessageSerializerTests(SerializationSystem fixture) : IClassFixture<SerializationSystem>
{
    static readonly Type[] MessageTypes = typeof(IClusterMessage).Assembly.GetTypes()
        .Where(t => typeof(IClusterMessage).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
        .OrderBy(t => t.FullName).ToArray();

    public static IEnumerable<object[]> Types => MessageTypes.Select(t => new object[] { t.Name });

    [Fact]
    public void The_cluster_messages_are_found()
    {
        // The reflection above must see the messages this test is about (a wrong assembly would pass vacuously).
        foreach (var expected in new[] { typeof(TrainPairs), typeof(BatchesDurable), typeof(BatchHeld), typeof(BatchesLost), typeof(TrainerStatus),
                     typeof(GetTrainerStatus), typeof(ScoredPair), typeof(CadStream.Actors.Scoring.ScorePairs), typeof(CadStream.Actors.Scoring.PairToScore) })
            Assert.Contains(expected, MessageTypes);
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Each_cluster_message_uses_the_cadstream_serializer_and_round_trips(string typeName)
    {
        var type = MessageTypes.Single(t => t.Name == typeName);
        var serialization = fixture.System.Serialization;
        foreach (var nulls in new[] { false, true })
        {
            var message = new Samples(fixture.Somebody, nulls).Make(type);
            var serializer = serialization.FindSerializerFor(message);
            Assert.IsType<ClusterMessageSerializer>(serializer);
            var bytes = serializer.ToBinary(message);
            var manifest = AkkaSerialization.ManifestFor(serializer, message);
            Assert.False(string.IsNullOrEmpty(manifest));
            Assert.DoesNotContain(".", manifest);  // a short name, not a .NET type name
            var back = serialization.Deserialize(bytes, serializer.Identifier, manifest);
            Assert.IsType(type, back);
            AssertDeepEqual(message, back, type.Name);
        }
    }

    [Fact]
    public void Manifests_are_distinct_and_an_unknown_one_is_a_clear_error()
    {
        var serializer = (ClusterMessageSerializer)fixture.System.Serialization.FindSerializerForType(typeof(BatchesLost));
        var manifests = MessageTypes.Select(t => serializer.Manifest(new Samples(fixture.Somebody, false).Make(t))).ToList();
        Assert.Equal(manifests.Count, manifests.Distinct().Count());
        var e = Assert.Throws<SerializationException>(() => serializer.FromBinary([], "from-the-future"));
        Assert.Contains("from-the-future", e.Message);
        Assert.Throws<ArgumentException>(() => serializer.ToBinary("not a cluster message"));
    }

    [Fact]
    public void A_reader_skips_fields_it_does_not_know()
    {
        var serializer = (ClusterMessageSerializer)fixture.System.Serialization.FindSerializerForType(typeof(BatchesDurable));
        var message = new BatchesDurable("m", [7, 8], 3);
        // Field 15 as a varint: what a newer node might add.
        byte[] newer = [.. serializer.ToBinary(message), 0x78, 0x2A];
        var back = (BatchesDurable)serializer.FromBinary(newer, serializer.Manifest(message));
        Assert.Equal(("m", 3L), (back.ModelId, back.SnapshotVersion));
        Assert.Equal([7L, 8L], back.BatchIds);
    }

    [Fact]
    public void A_pair_from_a_node_that_knows_no_captions_keeps_its_label_0()
    {
        // Such a node writes label 0 as proto3 does any zero: not at all, and knows no no_label field.
        // Its bytes, by hand (field numbers of cluster_messages.proto): ScoredPair id 1, pixels 2, coherence 4.
        var serializer = (ClusterMessageSerializer)fixture.System.Serialization.FindSerializerForType(typeof(ScoredPair));
        byte[] Older(Action<Google.Protobuf.CodedOutputStream> write)
        {
            using var buffer = new MemoryStream();
            var o = new Google.Protobuf.CodedOutputStream(buffer);
            write(o);
            o.Flush();
            return buffer.ToArray();
        }
        var olderScored = Older(o =>
        {
            o.WriteTag(1, Google.Protobuf.WireFormat.WireType.LengthDelimited); o.WriteString("p");
            o.WriteTag(2, Google.Protobuf.WireFormat.WireType.LengthDelimited); o.WriteBytes(Google.Protobuf.ByteString.CopyFrom(new byte[4]));
            o.WriteTag(4, Google.Protobuf.WireFormat.WireType.Fixed32); o.WriteFloat(0.5f);
        });
        var back = (ScoredPair)serializer.FromBinary(olderScored, serializer.Manifest(new ScoredPair("x", [], 1, 1f)));
        Assert.Equal(("p", (int?)0, 0.5f), (back.Id, back.Label, back.Coherence));
        Assert.Null(back.Caption);
        // PairToScore: id 1, model_ids 2, pixels 6.
        var olderPair = Older(o =>
        {
            o.WriteTag(1, Google.Protobuf.WireFormat.WireType.LengthDelimited); o.WriteString("p");
            o.WriteTag(2, Google.Protobuf.WireFormat.WireType.LengthDelimited); o.WriteString("m");
            o.WriteTag(6, Google.Protobuf.WireFormat.WireType.LengthDelimited); o.WriteBytes(Google.Protobuf.ByteString.CopyFrom(new byte[4]));
        });
        var pair = (CadStream.Actors.Scoring.PairToScore)serializer.FromBinary(olderPair,
            serializer.Manifest(new CadStream.Actors.Scoring.PairToScore("x", ["m"], 1, null, null, [])));
        Assert.Equal(("p", (int?)0), (pair.Id, pair.Label));
        // And a pair without a label says so.
        var unlabelled = new ScoredPair("t", [1, 2], null, 0.25f, "a coat");
        var round = (ScoredPair)serializer.FromBinary(serializer.ToBinary(unlabelled), serializer.Manifest(unlabelled));
        Assert.Null(round.Label);
        Assert.Equal("a coat", round.Caption);
    }

    [Fact]
    public void Pixels_travel_as_raw_bytes()
    {
        var pixels = Enumerable.Range(0, 32).Select(i => Enumerable.Range(0, 784).Select(j => (byte)(i * 7 + j)).ToArray()).ToArray();
        var batch = new TrainPairs("fashion-cad", 42, fixture.Somebody,
            pixels.Select((p, i) => new ScoredPair($"fashion-mnist/train/{i}", p, i % 10, 0.5f)).ToArray());
        var bytes = fixture.System.Serialization.Serialize(batch);
        int raw = 32 * 784;
        // Ids, labels, coherences and framing come to well under 64 bytes a pair; base64 or JSON arrays would add a third or more.
        Assert.InRange(bytes.Length, raw, raw + 32 * 64);
    }

    [Fact]
    public void A_sharding_envelope_carries_its_payload_through_the_cadstream_serializer()
    {
        var serialization = fixture.System.Serialization;
        var payload = new Samples(fixture.Somebody, false).Make(typeof(TrainPairs));
        var envelope = new ShardingEnvelope("fashion-cad", payload);
        var serializer = serialization.FindSerializerFor(envelope);
        Assert.DoesNotContain("Json", serializer.GetType().Name);
        var back = (ShardingEnvelope)serialization.Deserialize(serializer.ToBinary(envelope), serializer.Identifier, AkkaSerialization.ManifestFor(serializer, envelope));
        Assert.Equal("fashion-cad", back.EntityId);
        AssertDeepEqual(payload, back.Message, "envelope payload");
    }

    /// <summary>Field by field: arrays and lists element-wise, actor references by path and uid.</summary>
    static void AssertDeepEqual(object? expected, object? actual, string where)
    {
        if (expected is null || actual is null) { Assert.True(expected is null && actual is null, $"{where}: {expected ?? "null"} vs {actual ?? "null"}"); return; }
        if (expected is IActorRef a) { Assert.Equal(a, actual); return; }
        if (expected is string || expected.GetType().IsPrimitive || expected is decimal) { Assert.Equal(expected, actual); return; }
        if (expected is IEnumerable e)
        {
            var x = e.Cast<object?>().ToList();
            var y = ((IEnumerable)actual).Cast<object?>().ToList();
            Assert.True(x.Count == y.Count, $"{where}: {x.Count} items vs {y.Count}");
            for (int i = 0; i < x.Count; i++) AssertDeepEqual(x[i], y[i], $"{where}[{i}]");
            return;
        }
        Assert.Equal(expected.GetType(), actual.GetType());
        foreach (var p in expected.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
            AssertDeepEqual(p.GetValue(expected), p.GetValue(actual), $"{where}.{p.Name}");
    }

    /// <summary>
    /// A message of any cluster type from its constructor, every field set to a distinct non-default value
    /// (or, with <paramref name="nulls"/>, every nullable one to null), so a field the serializer drops shows.
    /// </summary>
    sealed class Samples(IActorRef actor, bool nulls)
    {
        int n;

        public object Make(Type type)
        {
            var ctor = type.GetConstructors().OrderByDescending(c => c.GetParameters().Length).First();
            var context = new NullabilityInfoContext();
            return ctor.Invoke(ctor.GetParameters().Select(p => nulls && context.Create(p).WriteState == NullabilityState.Nullable
                ? null
                : Value(p.ParameterType, $"{type.Name}.{p.Name}")).ToArray());
        }

        object Value(Type t, string what)
        {
            n++;
            var inner = Nullable.GetUnderlyingType(t);
            if (inner is not null) return Value(inner, what);
            if (t == typeof(string)) return $"{what}-{n}";
            if (t == typeof(long)) return 1_000_000_000_000L + n;
            if (t == typeof(int)) return 100 + n;
            if (t == typeof(float)) return 0.25f + n;
            if (t == typeof(double)) return 0.5 + n;
            if (t == typeof(IActorRef)) return actor;
            if (t == typeof(CadStream.Records.Coherence.CoherenceBins)) return new CadStream.Records.Coherence.CoherenceBins([0, 0.1 + n / 1000.0, 0.6, 1], scoreScale: 100, sampleCount: n, version: 1 + n % 3);
            if (t == typeof(byte[])) { var b = new byte[784]; new Random(n).NextBytes(b); return b; }
            if (t == typeof(string[])) return new[] { $"{what}-a{n}", $"{what}-b{n}" };
            if (t == typeof(int[])) return Enumerable.Range(n, 10).ToArray();
            if (t == typeof(IReadOnlyList<long>)) return new[] { 1_000_000_000_000L + n, 5L + n, long.MaxValue - n };
            if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(IReadOnlyList<>) && typeof(IClusterMessage).IsAssignableFrom(t.GenericTypeArguments[0]))
            {
                var items = Array.CreateInstance(t.GenericTypeArguments[0], 2);
                for (int i = 0; i < 2; i++) items.SetValue(Make(t.GenericTypeArguments[0]), i);
                return items;
            }
            throw new NotSupportedException($"no sample value for {t.Name} ({what}): teach this test's Samples the new field type");
        }
    }
}
