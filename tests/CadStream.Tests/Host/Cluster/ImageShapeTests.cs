using System.Net;
using System.Text;
using System.Text.Json;
using CadStream.Actors.Training;
using CadStream.Host.Cluster;
using CadStream.Imaging;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Ingress.Producing;
using CadStream.Model;
using CadStream.Records;
using CadStream.Tests.Model;
using SkiaSharp;
using Xunit.Abstractions;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;

namespace CadStream.Tests.Host.Cluster;

/// <summary>
/// A model's image shape comes from its configuration, through every stage: colour PNGs of several sizes
/// go into a node through Kafka, a 3-channel 32x32 model trains on them, and serving answers colour PNGs
/// of that shape.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ImageShapeTests(ITestOutputHelper output)
{
    static readonly string[] Colours = ["red", "green", "blue"];

    /// <summary>An RGB PNG of the given size: a seeded pattern tinted towards one of the three classes' colours.</summary>
    static byte[] ColourPng(int width, int height, int label, int seed)
    {
        var rng = new Random(seed);
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                var c = new byte[3];
                rng.NextBytes(c);
                c[label] = (byte)Math.Max(c[label], (byte)200);
                bitmap.SetPixel(x, y, new SKColor(c[0], c[1], c[2]));
            }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    [Fact]
    public async Task Colour_pngs_of_several_sizes_train_a_3_channel_32x32_model_that_serves_colour_pngs()
    {
        var log = new TestLog(output);
        const string modelId = "rgb32";
        var model = TestModels.Tiny() with
        {
            Id = modelId, Classes = Colours, Channels = 3, ImageSize = 32, PaddedSize = 0,
            Batch = 16, WarmupSteps = 5, SnapshotEverySteps = 4, SnapshotEverySeconds = 2, ReplaySize = 256,
        };
        var folder = TempFolder("rgb");
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 2 });
        CadStreamNode? node = null;
        try
        {
            var settings = Settings(["ingress", "scorer", "trainer", "serving"], [model], kafka.BootstrapServers, folder: folder);
            node = await StartNodeAsync(settings, log, "node");
            using var http = Http(node);

            // Sizes below, at and above the model's side, square and not; JSON and protobuf records.
            (int W, int H)[] sizes = [(20, 20), (32, 32), (48, 40), (64, 64), (17, 31)];
            const int count = 60;
            using (var json = new PairProducer(kafka.BootstrapServers, IngressTopics.Pairs, PairFormat.Json))
            using (var proto = new PairProducer(kafka.BootstrapServers, IngressTopics.Pairs, PairFormat.Protobuf))
            {
                for (int i = 0; i < count; i++)
                {
                    var (w, h) = sizes[i % sizes.Length];
                    (i % 2 == 0 ? json : proto).Produce(new PairRecord { Id = $"rgb-{i}", ImagePng = ColourPng(w, h, i % 3, i), Label = i % 3, Coherence = 0.9 });
                }
                Assert.Equal(0, json.Flush(TimeSpan.FromSeconds(10)) + proto.Flush(TimeSpan.FromSeconds(10)));
            }
            await WaitUntilAsync(() => node.Consumer!.Accepted == count, TimeSpan.FromSeconds(30),
                () => $"{count} accepted pairs (accepted {node.Consumer!.Accepted}, rejected {node.Consumer.Rejected})");
            Assert.Equal(0, node.Consumer!.Rejected);

            await WaitUntilAsync(() => TrainerMetrics.Samples.WithLabels(modelId).Value >= count, TimeSpan.FromSeconds(60),
                () => $"every accepted pair trained (have {TrainerMetrics.Samples.WithLabels(modelId).Value})");
            await WaitUntilAsync(async () => (await ModelEntryAsync(http, modelId))?.GetProperty("snapshotVersion").ValueKind == JsonValueKind.Number,
                TimeSpan.FromSeconds(60), () => "serving to load a snapshot of the 3-channel model");

            var snapshot = CadSnapshot.FromBytes(await node.Store.FetchAsync(modelId, (await node.Store.GetLatestAsync(modelId))!.Version));
            Assert.Equal(3, snapshot.Spec.Channels);
            Assert.Equal(32, snapshot.Spec.ImageSize);

            using var r = await http.PostAsync($"/v1/models/{modelId}/samples",
                new StringContent("""{"label": "green", "steps": 3, "seed": 4, "count": 2, "format": "json"}""", Encoding.UTF8, "application/json"));
            var body = await r.Content.ReadAsStringAsync();
            Assert.True(r.StatusCode == HttpStatusCode.OK, body);
            using var doc = JsonDocument.Parse(body);
            var images = doc.RootElement.GetProperty("images").EnumerateArray().Select(e => Convert.FromBase64String(e.GetString()!)).ToArray();
            Assert.Equal(2, images.Length);
            foreach (var png in images)
            {
                using var bitmap = SKBitmap.Decode(png);
                Assert.NotNull(bitmap);
                Assert.Equal(32, bitmap.Width);
                Assert.Equal(32, bitmap.Height);
                // Colour, not grey: a grey image has R = G = B in every pixel.
                int coloured = 0;
                for (int y = 0; y < 32; y++)
                    for (int x = 0; x < 32; x++)
                    {
                        var p = bitmap.GetPixel(x, y);
                        if (p.Red != p.Green || p.Green != p.Blue) coloured++;
                    }
                log.Write($"{coloured} of 1024 pixels are not grey");
                Assert.True(coloured > 512, $"only {coloured} of 1024 pixels have colour: the model answered grey images");
            }
        }
        finally
        {
            await StopAllAsync(log, node);
            Directory.Delete(folder, recursive: true);
        }
    }
}
