using System.Collections.Concurrent;
using System.Text.Json;
using CadStream.Host.Cluster;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Ingress.Producing;
using CadStream.Records;
using CadStream.Model;
using CadStream.Snapshots;
using CadStream.Snapshots.Redis;
using CadStream.Tests.Snapshots.Redis;
using StackExchange.Redis;
using Xunit.Abstractions;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;

namespace CadStream.Tests.Host.Cluster;

/// <summary>
/// Three nodes in one process, one role set each, joined over remoting on loopback: pairs enter
/// through Kafka on the ingress node, train on the trainer node, land in Redis under the contract's
/// keys, and are sampled over HTTP on the serving node.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class MultiNodeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Pairs_flow_from_the_ingress_node_through_the_trainer_node_and_redis_to_the_serving_node()
    {
        var log = new TestLog(output);
        const string modelId = "multi-cad";
        var redis = new RedisServer();
        await redis.InitializeAsync();
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 2 });
        CadStreamNode? ingress = null, trainer = null, serving = null;
        try
        {
            var model = TinyModel(modelId);
            ingress = await StartNodeAsync(Settings(["ingress", "scorer"], [model], kafka.BootstrapServers, redis.Endpoint), log, "ingress");
            string[] seeds = [AddressOf(ingress)];
            trainer = await StartNodeAsync(Settings(["trainer"], [model], redis: redis.Endpoint, seeds: seeds), log, "trainer");
            serving = await StartNodeAsync(Settings(["serving"], [model], redis: redis.Endpoint, seeds: seeds), log, "serving");
            await WaitUntilAsync(() => UpMembers(ingress) == 3 && UpMembers(serving) == 3, TimeSpan.FromSeconds(30),
                () => $"three members up (ingress sees {UpMembers(ingress)}, serving sees {UpMembers(serving)})");
            Assert.Null(trainer.Consumer);
            Assert.Null(serving.Consumer);

            var notices = new ConcurrentQueue<string>();
            var subscriber = redis.Admin.GetSubscriber();
            await subscriber.SubscribeAsync(RedisChannel.Literal("cad:snapshots"), (_, message) => notices.Enqueue(message.ToString()));

            // Half JSON, half protobuf: both formats cross the cluster.
            const int count = 64;
            using (var json = new PairProducer(kafka.BootstrapServers, IngressTopics.Pairs, PairFormat.Json))
            using (var proto = new PairProducer(kafka.BootstrapServers, IngressTopics.Pairs, PairFormat.Protobuf))
            {
                for (int i = 0; i < count; i++) (i % 2 == 0 ? json : proto).Produce(Pair($"m-{i}", i));
                Assert.Equal(0, json.Flush(TimeSpan.FromSeconds(10)));
                Assert.Equal(0, proto.Flush(TimeSpan.FromSeconds(10)));
                Assert.Equal(count, json.Delivered + proto.Delivered);
            }

            // Trained on the trainer node and published to Redis under cad:model:{id}:latest.
            var db = redis.Admin.GetDatabase();
            var latestKey = $"cad:model:{modelId}:latest";
            await WaitUntilAsync(async () => (long?)await db.HashGetAsync(latestKey, "samples") >= count, TimeSpan.FromSeconds(90),
                () => $"a snapshot reflecting {count} samples in {latestKey}");
            var fields = (await db.HashGetAllAsync(latestKey)).ToDictionary(f => f.Name.ToString(), f => f.Value);
            log.Write("latest: " + string.Join(", ", fields.Select(kv => $"{kv.Key}={kv.Value}")));
            long version = (long)fields["version"];
            Assert.True(version >= 1);
            Assert.Matches("^[0-9a-f]{64}$", fields["sha256"].ToString());
            Assert.True((long)fields["bytes"] > 1000);
            Assert.True((long)fields["steps"] >= count / model.Batch);
            Assert.True((long)fields["samples"] >= count);
            Assert.InRange((long)fields["created"], DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            // The bytes behind the pointer are whole (sha256 checked), self-describing, and come from this trainer.
            var bytes = await serving.Store.FetchAsync(modelId, version);
            Assert.Equal((long)fields["bytes"], bytes.LongLength);
            var snapshot = CadSnapshot.FromBytes(bytes);
            Assert.Equal((long)fields["steps"], snapshot.Steps);
            Assert.Equal("Sneaker", snapshot.Spec.Classes[7]);
            await WaitUntilAsync(() => notices.Any(n => IsNotice(n, modelId, version)), TimeSpan.FromSeconds(10),
                () => $"a notice on cad:snapshots for v{version} (have {string.Join(" ", notices)})");

            // Every pair is committed once reflected in a snapshot, though trainer and consumer live on different nodes.
            await WaitForAllCommittedAsync(kafka, ingress.Consumer!, TimeSpan.FromSeconds(60));
            // The trainer node's acknowledgements came from a cluster member: none was refused.
            Assert.Equal(0, log.Count("that would move commits"));
            Assert.Equal(count, ingress.Consumer!.Accepted);

            // The serving node follows Redis and samples over HTTP.
            using var http = Http(serving);
            await WaitUntilAsync(async () => (await ModelEntryAsync(http, modelId))?.GetProperty("snapshotVersion") is { ValueKind: JsonValueKind.Number } v && v.GetInt64() >= version,
                TimeSpan.FromSeconds(30), () => $"the serving node to load v{version}");
            Assert.True(await SampleOneAsync(http, modelId) >= version);
            var status = await GetJsonAsync(http, "/v1/status");
            Assert.Equal(3, status.GetProperty("cluster").GetProperty("members").GetArrayLength());
            Assert.Equal("serving", Assert.Single(status.GetProperty("node").GetProperty("roles").EnumerateArray()).GetString());
            // Training figures reach the serving node from the trainer node, which it names. They are asked for in the
            // background (a status request never waits on the cluster), so they may lag a second behind: wait for them.
            await WaitUntilAsync(async () => (await GetJsonAsync(http, "/v1/status")).GetProperty("models")[0].GetProperty("training") is { ValueKind: JsonValueKind.Object } t
                    && t.GetProperty("samplesSeen").GetInt64() >= count,
                TimeSpan.FromSeconds(15), () => "training figures of every pair in the serving node's /v1/status");
            var training = (await GetJsonAsync(http, "/v1/status")).GetProperty("models")[0].GetProperty("training");
            Assert.Equal(AddressOf(trainer), training.GetProperty("node").GetString());
            Assert.True(training.GetProperty("samplesSeen").GetInt64() >= count);
            // The trainer's own view of its newest snapshot: at least the one found in Redis above.
            Assert.True(training.GetProperty("snapshotVersion").GetInt64() >= version);

            // Nodes without the serving role answer health, metrics and status.
            using var trainerHttp = Http(trainer);
            Assert.Equal("ok", await trainerHttp.GetStringAsync("/healthz"));
            Assert.Equal("trainer", Assert.Single((await GetJsonAsync(trainerHttp, "/v1/status")).GetProperty("node").GetProperty("roles").EnumerateArray()).GetString());
        }
        finally
        {
            await StopAllAsync(log, ingress, trainer, serving);
            await redis.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_ingress_node_without_scorers_has_its_pairs_scored_on_another_node()
    {
        var log = new TestLog(output);
        const string modelId = "remote-scored";
        var folder = Directory.CreateTempSubdirectory("cadstream-remote-scoring-").FullName;
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 2 });
        CadStreamNode? ingress = null, worker = null;
        try
        {
            var model = TinyModel(modelId);
            // Only the other node has scorers: every pair must cross the cluster to be scored.
            ingress = await StartNodeAsync(Settings(["ingress"], [model], kafka.BootstrapServers, folder: folder), log, "ingress");
            worker = await StartNodeAsync(Settings(["scorer", "trainer"], [model], folder: folder, seeds: [AddressOf(ingress)]), log, "scorer+trainer");
            await WaitUntilAsync(() => UpMembers(ingress) == 2 && UpMembers(worker) == 2, TimeSpan.FromSeconds(30),
                () => $"two members up (ingress sees {UpMembers(ingress)})");

            const int count = 32;
            using (var producer = new PairProducer(kafka.BootstrapServers, IngressTopics.Pairs, PairFormat.Json))
            {
                for (int i = 0; i < count; i++) producer.Produce(Pair($"r-{i}", i));
                Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(10)));
            }

            // Committed only once a snapshot on the worker reflects them.
            await WaitForAllCommittedAsync(kafka, ingress.Consumer!, TimeSpan.FromSeconds(90));
            Assert.Equal(count, ingress.Consumer!.Accepted);
            Assert.Equal(0, ingress.Consumer.Rejected);
            var latest = await worker.Store.GetLatestAsync(modelId);
            Assert.NotNull(latest);
            Assert.True(latest.Samples >= count, $"the newest snapshot reflects {latest.Samples} samples, expected >= {count}");
        }
        finally
        {
            await StopAllAsync(log, ingress, worker);
            Directory.Delete(folder, true);
        }
    }

    static bool IsNotice(string json, string model, long version)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("model").GetString() == model && doc.RootElement.GetProperty("version").GetInt64() == version;
    }
}
