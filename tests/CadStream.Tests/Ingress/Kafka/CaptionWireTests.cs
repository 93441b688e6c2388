using System.Diagnostics;
using System.Text;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Records;
using Xunit.Abstractions;
using static CadStream.Tests.Ingress.Kafka.KafkaTestKit;

namespace CadStream.Tests.Ingress.Kafka;

/// <summary>
/// Captioned pairs on the real Kafka wire from a foreign client (kcat) into a running consumer with a class
/// model and a text model configured: good captions in JSON and protobuf arrive intact at the models of
/// their kinds; empty, over-long and non-UTF-8 captions and a text model's pair without one land on the DLQ
/// unchanged with their reasons, and the consumer goes on.
/// </summary>
public sealed class CaptionWireTests(ITestOutputHelper output)
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>kcat -P into partition 0: <paramref name="lines"/> on stdin (one record each, bytes as given), or each file as one record.</summary>
    static void Kcat(EmbeddedKafka kafka, IReadOnlyList<byte[]>? lines = null, IReadOnlyList<string>? files = null, string? contentType = null)
    {
        var psi = new ProcessStartInfo("kcat") { RedirectStandardInput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-P", "-b", kafka.BootstrapServers, "-t", IngressTopics.Pairs, "-p", "0" }) psi.ArgumentList.Add(arg);
        if (contentType is not null)
        {
            psi.ArgumentList.Add("-H");
            psi.ArgumentList.Add($"{PairRecords.ContentTypeHeader}={contentType}");
        }
        foreach (var f in files ?? []) psi.ArgumentList.Add(f);
        Process kcat;
        try { kcat = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException("kcat is not installed: run scripts/setup.sh test (apt-get install -y kcat)", e); }
        using (kcat)
        {
            var stderr = kcat.StandardError.ReadToEndAsync();
            var stdin = kcat.StandardInput.BaseStream;  // bytes as they are: one line is not UTF-8 on purpose
            foreach (var line in lines ?? [])
            {
                stdin.Write(line);
                stdin.WriteByte((byte)'\n');
            }
            kcat.StandardInput.Close();
            Assert.True(kcat.WaitForExit(60_000), "kcat did not finish");
            Assert.True(kcat.ExitCode == 0, $"kcat failed: {stderr.Result}");
        }
    }

    [Fact]
    public async Task Captions_arrive_intact_and_bad_ones_go_to_the_dlq_with_their_reasons()
    {
        using var kafka = EmbeddedKafka.Start();
        var sink = new RecordingSink();
        using var consumer = StartConsumer(kafka, sink, output, decoder: CaptionTestKit.MixedDecoder);
        var png = Convert.ToBase64String(CaptionTestKit.Png28());
        byte[] J(string s) => Encoding.UTF8.GetBytes(s);

        var lines = new List<byte[]>
        {
            J($$"""{"id": "both", "image_png": "{{png}}", "label": 9, "caption": "IMG_2041.jpg dark ankle boots ✨ free shipping"}"""),
            J($$"""{"id": "empty", "image_png": "{{png}}", "label": 9, "caption": ""}"""),
            J($$"""{"id": "long", "image_png": "{{png}}", "caption": "{{new string('b', 1001)}}"}"""),
            J($$"""{"id": "not-utf8", "image_png": "{{png}}", "caption": "dark """).Concat(CaptionTestKit.InvalidUtf8).Concat("\"}"u8.ToArray()).ToArray(),
            J($$"""{"id": "no-caption", "model": "fashion-text", "image_png": "{{png}}", "label": 9}"""),
            J($$"""{"id": "caption-only", "image_png": "{{png}}", "caption": "a pair of ankle boots"}"""),
        };
        Kcat(kafka, lines);

        var folder = Path.Combine(Path.GetTempPath(), "cadstream-tests", "captions-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            var files = new (string Name, byte[] Bytes)[]
            {
                ("good.pb", PairRecords.ToProtobuf(new PairRecord { Id = "proto", ImagePng = CaptionTestKit.Png28(2), Label = 7, Caption = "Sneakers für Läufer 👟" })),
                ("not-utf8.pb", CaptionTestKit.ProtobufWithRawCaption(CaptionTestKit.InvalidUtf8)),
                ("empty.pb", PairRecords.ToProtobuf(new PairRecord { Id = "proto-empty", ImagePng = CaptionTestKit.Png28(), Caption = "" })),
            };
            foreach (var (name, bytes) in files) File.WriteAllBytes(Path.Combine(folder, name), bytes);
            Kcat(kafka, files: files.Select(f => Path.Combine(folder, f.Name)).ToArray(), contentType: PairRecords.ProtobufContentType);

            await WaitUntil(() => sink.Count == 3 && consumer.DeadLettered == 6, Patience,
                () => $"3 pairs and 6 dead letters (have {sink.Count}, {consumer.DeadLettered})");
            var byId = sink.Pairs.ToDictionary(p => p.Id);
            Assert.Equal(["both", "caption-only", "proto"], byId.Keys.Order());
            Assert.Equal("IMG_2041.jpg dark ankle boots ✨ free shipping", byId["both"].Caption);
            Assert.Equal((int?)9, byId["both"].Label);
            Assert.Equal([CaptionTestKit.ClassModel, CaptionTestKit.TextModel], byId["both"].ModelIds);
            Assert.Equal([CaptionTestKit.TextModel], byId["caption-only"].ModelIds);
            Assert.Null(byId["caption-only"].Label);
            Assert.Equal("Sneakers für Läufer 👟", byId["proto"].Caption);
            Assert.Equal((int?)7, byId["proto"].Label);

            var dlq = ReadTopic(kafka, IngressTopics.DeadLetters, 6, Patience);
            Assert.Equal(6, dlq.Count);
            var reasons = dlq.Select(r => Header(r, IngressTopics.ErrorHeader)).ToList();
            output.WriteLine(string.Join("\n", reasons));
            Assert.Equal(2, reasons.Count(r => r == "empty caption: a caption needs 1 to 1000 characters"));
            Assert.Contains("caption of 1001 characters exceeds the 1000-character limit (Ingress:MaxCaptionLength)", reasons);
            Assert.Equal(2, reasons.Count(r => r == "field 'caption' is not valid UTF-8"));
            Assert.Contains("missing caption: text models need 'caption' (text of 1 or more characters)", reasons);
            // Unchanged: the bad bytes of both formats are what the DLQ holds.
            Assert.Contains(dlq, r => r.Message.Value!.SequenceEqual(lines[3]));
            var badProto = dlq.Single(r => r.Message.Value!.SequenceEqual(files[1].Bytes));
            Assert.Equal(PairRecords.ProtobufContentType, Header(badProto, PairRecords.ContentTypeHeader));
            Assert.Equal("field 'caption' is not valid UTF-8", Header(badProto, IngressTopics.ErrorHeader));
        }
        finally { Directory.Delete(folder, recursive: true); }
        await consumer.StopAsync();
    }
}
