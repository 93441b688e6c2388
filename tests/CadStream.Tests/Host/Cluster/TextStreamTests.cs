using System.Net;
using System.Text;
using System.Text.Json;
using CadStream.Catalog;
using CadStream.Data;
using CadStream.Data.Captions;
using CadStream.Host.Cluster;
using CadStream.Imaging;
using CadStream.Ingress.Kafka;
using CadStream.Model;
using CadStream.Records;
using Xunit.Abstractions;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;

namespace CadStream.Tests.Host.Cluster;

/// <summary>
/// Captioned pairs from a foreign client (kcat) into a running node with a text model and a class model:
/// the text model trains on the captions (real MiniLM), its snapshot names the encoder, and a held-out
/// prompt samples PNGs over HTTP, the same seed giving the same images.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class TextStreamTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Kcat_caption_pairs_train_a_text_model_that_answers_a_held_out_prompt()
    {
        var log = new TestLog(output);
        const string textId = "stream-text", classId = "stream-class";
        const int count = 64;
        var folder = TempFolder("text-stream");
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 1 });
        CadStreamNode? node = null;
        try
        {
            var text = TinyModel(textId) with { Kind = ConditionKind.Text, CrossAttentionResolutions = [8] };
            node = await StartNodeAsync(Settings(["ingress", "scorer", "trainer", "serving"], [text, TinyModel(classId)], kafka.BootstrapServers, folder: folder), log, "node");
            using var http = Http(node);

            // Real Fashion-MNIST images with generated captions and their labels, one JSON object per line.
            var data = FashionMnist.Load(train: false).Slice(0, count);
            var captions = new CaptionGenerator(new CaptionNoise(0.2, 0.1), seed: 4);
            var lines = Enumerable.Range(0, count).Select(i =>
            {
                var pixels = data.Pixels.AsSpan(i * 784, 784).ToArray();
                var caption = captions.Generate(pixels, data.Labels[i], i);
                return Encoding.UTF8.GetString(PairRecords.ToJson(new PairRecord
                {
                    Id = $"t-{i}", ImagePng = Png.Encode(pixels, 28, 28), Label = data.Labels[i], Caption = caption.Text,
                    Coherence = caption.Truth == CaptionTruth.Correct ? 1.0 : 0.0,
                }));
            }).ToList();
            await KcatProduceAsync(kafka.BootstrapServers, lines);

            // Both models learn from the one stream; every pair ends up in a stored snapshot of each.
            await WaitForAllCommittedAsync(kafka, (await WaitForConsumer(node)), TimeSpan.FromSeconds(120));
            Assert.Equal(0, node.Consumer!.Rejected);
            var latest = (await node.Store.GetLatestAsync(textId))!;
            Assert.True(latest.Samples >= count, $"the text model's snapshot reflects {latest.Samples} samples");
            var snapshot = CadSnapshot.FromBytes(await node.Store.FetchAsync(textId, latest.Version));
            Assert.StartsWith("all-MiniLM-L6-v2", snapshot.TextEncoder);
            Assert.True((await node.Store.GetLatestAsync(classId))!.Samples >= count);

            // A held-out wording, never in training captions.
            var prompt = CaptionGenerator.HeldOutPrompts(9)[0];
            await WaitUntilAsync(async () => (await ModelEntryAsync(http, textId))?.GetProperty("snapshotVersion").ValueKind == JsonValueKind.Number,
                TimeSpan.FromSeconds(30), () => "the text model served");
            string body = JsonSerializer.Serialize(new { prompt, coherence = 1.0, guidance = 1.0, steps = 4, seed = 11, count = 2, format = "json" });
            async Task<string> Images()
            {
                using var r = await http.PostAsync($"/v1/models/{textId}/samples", new StringContent(body, Encoding.UTF8, "application/json"));
                var json = await r.Content.ReadAsStringAsync();
                Assert.True(r.StatusCode == HttpStatusCode.OK, $"{(int)r.StatusCode} {json}");
                return JsonDocument.Parse(json).RootElement.GetProperty("images").ToString();
            }
            var first = await Images();
            Assert.Equal(2, JsonDocument.Parse(first).RootElement.GetArrayLength());
            Assert.Equal(first, await Images());
            log.Write($"prompt '{prompt}' sampled from v{latest.Version} ({latest.Samples} samples)");
        }
        finally
        {
            await StopAllAsync(log, node);
            Directory.Delete(folder, recursive: true);
        }
    }

    static async Task<PairConsumer> WaitForConsumer(CadStreamNode node)
    {
        await WaitUntilAsync(() => node.Consumer is not null, TimeSpan.FromSeconds(30), () => "the consumer");
        return node.Consumer!;
    }
}
