using System.Text.Json;
using CadStream.Ingress.Kafka;
using CadStream.Records;
using Xunit.Abstractions;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;
using static CadStream.Tests.Ingress.Kafka.KafkaTestKit;

namespace CadStream.Tests.Host.Cluster;

/// <summary>
/// A node none of whose models reads text never loads the text encoder: no ONNX Runtime, no 91 MB MiniLM assembly.
/// Checked on a node of its own process (this test process loads MiniLM for other tests), from the files the
/// process has mapped, once it has ingested, trained and stored a snapshot and serves it.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class TextEncoderLoadingTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_class_only_node_trains_and_serves_without_loading_the_text_encoder()
    {
        var log = new TestLog(output);
        var folder = TempFolder("class-only");
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 1 });
        int port = FreePort();
        using var node = StartNodeProcess([TinyModel("class-only")], ["ingress", "scorer", "trainer", "serving"], null, null, folder, log, "node",
            kafka.BootstrapServers, port);
        try
        {
            using (var producer = RawProducer(kafka))
                for (int i = 0; i < 48; i++) Send(producer, $"c-{i}", PairRecords.ToJson(Pair($"c-{i}", i)));
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
            await WaitUntilAsync(async () =>
            {
                try { return (await ModelEntryAsync(http, "class-only"))?.GetProperty("snapshotVersion").ValueKind == JsonValueKind.Number; }
                catch (HttpRequestException) { return false; }  // not listening yet
            }, TimeSpan.FromSeconds(120), () => "the node to train, store and serve a snapshot");

            var mapped = File.ReadAllLines($"/proc/{node.Id}/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f.Length >= 6).Select(f => Path.GetFileName(f[^1])).ToHashSet();
            // The process maps the assemblies it loaded: the ones training needs are there.
            Assert.Contains("TorchSharp.dll", mapped);
            Assert.Contains("CadStream.Model.dll", mapped);
            var text = mapped.Where(f => f.Contains("onnxruntime", StringComparison.OrdinalIgnoreCase)
                || f.StartsWith("SentenceTransformers", StringComparison.Ordinal) || f == "CadStream.Text.dll").ToArray();
            Assert.True(text.Length == 0, $"a class-only node loaded {string.Join(", ", text)}");
        }
        finally
        {
            if (!node.HasExited) node.Kill(entireProcessTree: true);
            await node.WaitForExitAsync();
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }
}
