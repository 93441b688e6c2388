using System.Diagnostics;
using System.Text;
using System.Text.Json;
using CadStream.Actors.Training;
using CadStream.Host.Cluster;
using CadStream.Imaging;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Records;
using CadStream.Tests.Ingress.Kafka;
using CadStream.Tests.Ingress;
using Confluent.Kafka;
using SkiaSharp;
using Xunit.Abstractions;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;
using static CadStream.Tests.Ingress.Kafka.KafkaTestKit;

namespace CadStream.Tests.Host.Cluster;

/// <summary>
/// One node with every role on the embedded broker and a folder store, as `cadstream demo` runs it:
/// Kafka in, dead letters, training, snapshots, commits, HTTP out.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class SingleNodeTests(ITestOutputHelper output)
{
    static readonly string[] AllRoles = ["ingress", "scorer", "trainer", "serving"];

    static byte[] Json(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task Pairs_train_into_snapshots_bad_records_go_to_the_dlq_and_commits_wait_for_snapshots()
    {
        var log = new TestLog(output);
        const string modelId = "single-cad";
        var folder = TempFolder("single");
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 2 });
        // Snapshots by time only, every 3 s: training runs ahead of them, so a commit that did not wait
        // for a snapshot shows as more pairs committed than the stored snapshot has seen.
        var model = TinyModel(modelId) with { SnapshotEverySteps = 1_000_000, SnapshotEverySeconds = 3 };
        CadStreamNode? node = null;
        try
        {
            // Pass-through client settings that a plaintext broker ignores, one of them a secret.
            var settings = Settings(AllRoles, [model], kafka.BootstrapServers, folder: folder);
            settings = settings with { Kafka = settings.Kafka with { Client = new() { ["sasl.username"] = "cad", ["sasl.password"] = "single-node-secret", ["client.rack"] = "r1" } } };
            node = await StartNodeAsync(settings, log, "node");
            var consumer = node.Consumer!;
            using var http = Http(node);
            using var producer = RawProducer(kafka);

            var valid = new List<TopicPartitionOffset>();
            for (int i = 0; i < 40; i++) valid.Add(Send(producer, $"good-{i}", PairRecords.ToJson(Pair($"good-{i}", i))));
            // Bad records in the middle of the stream: the consumer must go on past them.
            var bad = new Dictionary<string, (byte[] Value, string Reason)>
            {
                ["bad-json"] = (Json("""{"id": "bad-json", "label": 3, "image_u8": """), "malformed JSON"),
                ["bad-base64"] = (Json("""{"id": "bad-base64", "image_png": "@@ not base64 @@", "label": 1}"""), "bad base64"),
                ["not-an-image"] = (PairRecords.ToJson(new PairRecord { Id = "not-an-image", ImagePng = Json("this is no image at all"), Label = 2 }),
                    "not a decodable image"),
                ["oversized"] = (PairRecords.ToJson(new PairRecord { Id = "oversized", ImagePng = IngressTestKit.SolidPng(4100, 2, SKColors.Gray), Label = 2 }),
                    "exceeds 4096x4096"),
                ["unknown-label"] = (PairRecords.ToJson(Pair("unknown-label", 3) with { Label = null, LabelName = "Dragon" }), "unknown label 'Dragon'"),
                ["coherence-7"] = (PairRecords.ToJson(Pair("coherence-7", 4) with { Coherence = 7 }), "coherence 7 outside [0, 1]"),
            };
            var badAt = bad.ToDictionary(kv => kv.Key, kv => Send(producer, kv.Key, kv.Value.Value));
            for (int i = 40; i < 80; i++) valid.Add(Send(producer, $"good-{i}", PairRecords.ToJson(Pair($"good-{i}", i))));
            log.Write($"produced {valid.Count} valid and {bad.Count} bad records");

            // Watch commits against stored snapshots until every record is committed. Commits are read
            // first, the snapshot after: the snapshot that allowed a commit is stored before the commit.
            var fresh = TrainerMetrics.Samples.WithLabels(modelId);
            long widestGap = 0, checks = 0;
            var end = EndOffsets(kafka);
            var clock = Stopwatch.StartNew();
            while (true)
            {
                var committed = consumer.CommittedOffsets;
                long committedPairs = valid.Count(v => v.Offset.Value < committed.GetValueOrDefault(v.TopicPartition, 0));
                var latest = await node.Store.GetLatestAsync(modelId);
                long reflected = latest?.Samples ?? 0;
                Assert.True(committedPairs <= reflected,
                    $"{committedPairs} valid pairs committed, but the stored snapshot (v{latest?.Version}) has seen only {reflected} pairs");
                widestGap = Math.Max(widestGap, (long)fresh.Value - committedPairs);
                checks++;
                if (end.All(e => committed.GetValueOrDefault(new TopicPartition(IngressTopics.Pairs, new Partition(e.Key)), 0) == e.Value)) break;
                if (clock.Elapsed > TimeSpan.FromSeconds(60))
                    Assert.Fail($"not everything committed after 60 s: end {Show(end)}, committed {string.Join(", ", committed)}, " +
                        $"accepted {consumer.Accepted}, rejected {consumer.Rejected}, trained {fresh.Value}, snapshot v{latest?.Version}");
                await Task.Delay(50);
            }
            log.Write($"all committed after {clock.Elapsed.TotalSeconds:F1} s, {checks} checks; widest gap trained-committed {widestGap}");
            // The check above can fail: training ran ahead of the commits while no snapshot covered it.
            Assert.True(widestGap >= 16, $"training never ran ahead of the commits (widest gap {widestGap}): the snapshot interval did not show");
            var broker = GroupCommitted(kafka);
            foreach (var (p, high) in end) Assert.Equal(high, broker[p]);

            // Every valid pair trained exactly once, every bad one dead-lettered, none lost in between.
            Assert.Equal(valid.Count, consumer.Accepted);
            Assert.Equal(bad.Count, consumer.Rejected);
            Assert.Equal(bad.Count, consumer.DeadLettered);
            Assert.Equal(valid.Count, (long)fresh.Value);
            var stored = await node.Store.GetLatestAsync(modelId);
            Assert.NotNull(stored);
            Assert.True(stored.Steps >= valid.Count / model.Batch, $"snapshot has {stored.Steps} steps");
            Assert.True(stored.Samples >= valid.Count);
            Assert.NotEmpty(Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories));

            var dlq = KafkaTestKit.ReadTopic(kafka, IngressTopics.DeadLetters, bad.Count, TimeSpan.FromSeconds(30));
            Assert.Equal(bad.Count, dlq.Count);
            foreach (var r in dlq)
            {
                var key = Encoding.UTF8.GetString(r.Message.Key!);
                Assert.True(bad.ContainsKey(key), $"unexpected DLQ record {key}");
                Assert.Equal(bad[key].Value, r.Message.Value);  // unchanged
                Assert.Contains(bad[key].Reason, KafkaTestKit.Header(r, IngressTopics.ErrorHeader));
                Assert.Equal($"{IngressTopics.Pairs}/{badAt[key].Partition.Value}/{badAt[key].Offset.Value}", KafkaTestKit.Header(r, IngressTopics.SourceHeader));
            }

            // The HTTP API of the same node serves the trained model.
            await WaitUntilAsync(async () => (await ModelEntryAsync(http, modelId))?.GetProperty("snapshotVersion").ValueKind == JsonValueKind.Number,
                TimeSpan.FromSeconds(30), () => "the serving stage to load a snapshot");
            var entry = (await ModelEntryAsync(http, modelId))!.Value;
            Assert.Equal("class", entry.GetProperty("kind").GetString());
            Assert.Equal("cad", entry.GetProperty("mode").GetString());
            Assert.Equal("Sneaker", entry.GetProperty("classes")[7].GetString());
            Assert.True(entry.GetProperty("steps").GetInt64() > 0);
            Assert.True(await SampleOneAsync(http, modelId) >= 1);
            Assert.Equal("ok", await http.GetStringAsync("/healthz"));
            Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("/readyz")).StatusCode);

            var status = await GetJsonAsync(http, "/v1/status");
            Assert.Equal(kafka.BootstrapServers, status.GetProperty("kafka").GetProperty("bootstrap").GetString());
            // The client settings are shown, their secrets never: not in the status, not in the node's log.
            var client = status.GetProperty("kafka").GetProperty("client");
            Assert.Equal("cad", client.GetProperty("sasl.username").GetString());
            Assert.Equal("(redacted)", client.GetProperty("sasl.password").GetString());
            Assert.Equal("r1", client.GetProperty("client.rack").GetString());
            Assert.DoesNotContain("single-node-secret", status.GetRawText());
            Assert.DoesNotContain(log.Lines, l => l.Contains("single-node-secret", StringComparison.Ordinal));
            Assert.Single(status.GetProperty("cluster").GetProperty("members").EnumerateArray());
            await WaitUntilAsync(async () => (await GetJsonAsync(http, "/v1/status")).GetProperty("models")[0].GetProperty("training").ValueKind == JsonValueKind.Object,
                TimeSpan.FromSeconds(10), () => "training figures in /v1/status");
            var training = (await GetJsonAsync(http, "/v1/status")).GetProperty("models")[0].GetProperty("training");
            Assert.True(training.GetProperty("steps").GetInt64() >= stored.Steps);
            Assert.Equal(AddressOf(node), training.GetProperty("node").GetString());

            var metrics = await http.GetStringAsync("/metrics");
            foreach (var name in new[] { "cad_ingest_records_total", "cad_coherence", "cad_train_steps_total", "cad_train_samples_total",
                         "cad_train_loss", "cad_train_step_seconds", "cad_snapshot_version", "cad_snapshot_publish_seconds",
                         "cad_sample_requests_total", "cad_sample_seconds", "cad_kafka_consumer_lag" })
                Assert.Contains($"\n{name}", metrics);
            Assert.Contains($"cad_train_samples_total{{model=\"{modelId}\"}} {valid.Count}", metrics);
            Assert.Contains($"cad_coherence_count{{model=\"{modelId}\"}} {valid.Count}", metrics);
            Assert.Contains("cad_ingest_records_total{outcome=\"rejected\"}", metrics);
        }
        finally
        {
            await StopAllAsync(log, node);
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Kcat_as_a_foreign_client_feeds_json_pairs_that_are_trained_on()
    {
        var log = new TestLog(output);
        const string modelId = "kcat-cad";
        const int count = 48;
        var folder = TempFolder("kcat");
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 2 });
        CadStreamNode? node = null;
        try
        {
            node = await StartNodeAsync(Settings(AllRoles, [TinyModel(modelId)], kafka.BootstrapServers, folder: folder), log, "node");
            using var http = Http(node);
            Assert.Equal(0, await TrainedSamplesAsync(http, modelId));

            // One JSON object per line, PNG images, labels as index or class name: what a user would pipe in.
            var lines = Enumerable.Range(0, count).Select(i => Encoding.UTF8.GetString(PairRecords.ToJson(new PairRecord
            {
                Id = $"kcat-{i}",
                ImagePng = Png.Encode(Pixels(i), 28, 28),
                Label = i % 2 == 0 ? i % 10 : null,
                LabelName = i % 2 == 0 ? null : CadStream.Data.FashionMnist.ClassNames[i % 10],
                Coherence = i % 3 == 0 ? null : 0.9,
                Score = i % 3 == 0 ? 20 + i : null,
            })));
            await KcatProduceAsync(kafka.BootstrapServers, lines);
            Assert.Equal(count, EndOffsets(kafka).Values.Sum());

            await WaitUntilAsync(() => node.Consumer!.Accepted == count, TimeSpan.FromSeconds(30),
                () => $"{count} accepted pairs (accepted {node.Consumer!.Accepted}, rejected {node.Consumer.Rejected})");
            Assert.Equal(0, node.Consumer!.Rejected);
            // The samples counter of /v1/status grows with them; each pair is trained once as a fresh pair.
            await WaitUntilAsync(async () => await TrainedSamplesAsync(http, modelId) >= count, TimeSpan.FromSeconds(60),
                () => $"the trainer to see {count} samples");
            await WaitUntilAsync(() => TrainerMetrics.Samples.WithLabels(modelId).Value >= count, TimeSpan.FromSeconds(30),
                () => $"{count} fresh pairs trained (have {TrainerMetrics.Samples.WithLabels(modelId).Value})");
            Assert.Equal(count, (long)TrainerMetrics.Samples.WithLabels(modelId).Value);
            await WaitForAllCommittedAsync(kafka, node.Consumer, TimeSpan.FromSeconds(30));
            Assert.True((await node.Store.GetLatestAsync(modelId))!.Samples >= count);
        }
        finally
        {
            await StopAllAsync(log, node);
            Directory.Delete(folder, recursive: true);
        }
    }

    static async Task<long> TrainedSamplesAsync(HttpClient http, string modelId)
    {
        var status = await GetJsonAsync(http, "/v1/status");
        foreach (var m in status.GetProperty("models").EnumerateArray())
            if (m.GetProperty("id").GetString() == modelId && m.GetProperty("training").ValueKind == JsonValueKind.Object)
                return m.GetProperty("training").GetProperty("samplesSeen").GetInt64();
        return 0;
    }
}
