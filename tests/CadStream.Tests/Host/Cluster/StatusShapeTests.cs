using System.Text.Json;
using CadStream.Host.Cluster;
using CadStream.Ingress.Kafka;
using CadStream.Tests.Docs;
using Xunit.Abstractions;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;

namespace CadStream.Tests.Host.Cluster;

/// <summary>
/// /v1/status has one shape whatever the node's roles: a trainer-only node and an ingress and serving node answer
/// the documented fields, a role's fields exactly where the node has the role, under the same names.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class StatusShapeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_trainer_node_and_an_ingress_and_serving_node_answer_one_documented_shape()
    {
        var log = new TestLog(output);
        const string modelId = "status-shape";
        var folder = Directory.CreateTempSubdirectory("cadstream-status-shape-").FullName;
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 1 });
        CadStreamNode? trainer = null, front = null;
        try
        {
            var model = TinyModel(modelId);
            // Two one-node clusters: the shape depends on the node's own roles, not on its peers.
            trainer = await StartNodeAsync(Settings(["trainer"], [model], folder: folder), log, "trainer");
            front = await StartNodeAsync(Settings(["ingress", "serving"], [model], kafka.BootstrapServers, folder: folder), log, "ingress+serving");
            using var trainerHttp = Http(trainer);
            using var frontHttp = Http(front);
            var trainerStatus = await GetJsonAsync(trainerHttp, "/v1/status");
            var frontStatus = await GetJsonAsync(frontHttp, "/v1/status");
            log.Write($"trainer: {trainerStatus.GetRawText()}");
            log.Write($"ingress+serving: {frontStatus.GetRawText()}");

            StatusShape.AssertFollowsTheDocs(trainerStatus);
            StatusShape.AssertFollowsTheDocs(frontStatus);

            // The same names on both, and the role fields where the roles are.
            Assert.Equal("trainer", Assert.Single(trainerStatus.GetProperty("node").GetProperty("roles").EnumerateArray()).GetString());
            Assert.False(trainerStatus.TryGetProperty("kafka", out _));
            Assert.False(trainerStatus.TryGetProperty("sampleJudge", out _));
            Assert.Contains(Path.GetFileName(folder), trainerStatus.GetProperty("snapshotStore").GetString());
            var trained = Assert.Single(trainerStatus.GetProperty("models").EnumerateArray());
            Assert.Equal(modelId, trained.GetProperty("id").GetString());
            Assert.True(trained.TryGetProperty("training", out _));
            Assert.False(trained.TryGetProperty("snapshotVersion", out _));
            Assert.False(trained.TryGetProperty("queue", out _));

            Assert.Equal(kafka.BootstrapServers, frontStatus.GetProperty("kafka").GetProperty("bootstrap").GetString());
            Assert.Equal(JsonValueKind.Null, frontStatus.GetProperty("sampleJudge").ValueKind);
            var served = Assert.Single(frontStatus.GetProperty("models").EnumerateArray());
            Assert.Equal(modelId, served.GetProperty("id").GetString());
            Assert.Equal(JsonValueKind.Null, served.GetProperty("snapshotVersion").ValueKind);  // nothing trained yet: there, and null
            Assert.Equal(0, served.GetProperty("queue").GetInt32());
            foreach (var part in new[] { "node", "cluster", "health", "models" })
                Assert.Equal(trainerStatus.GetProperty(part).ValueKind, frontStatus.GetProperty(part).ValueKind);
        }
        finally
        {
            await StopAllAsync(log, front, trainer);
            Directory.Delete(folder, recursive: true);
        }
    }
}
