using System.Diagnostics;
using System.Text;
using CadStream.Host.Configuration;
using CadStream.Imaging;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using Xunit.Abstractions;
using static CadStream.Tests.Ingress.IngressTestKit;
using static CadStream.Tests.Ingress.Kafka.KafkaTestKit;

namespace CadStream.Tests.Ingress.Kafka;

/// <summary>Runs alone: it measures the process's allocations, which other tests running beside it would blur.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MeasuredAloneCollection
{
    public const string Name = "measured alone";
}

/// <summary>
/// Hostile records on the real Kafka wire, produced by a foreign client (kcat) into a running consumer with
/// the shipped configuration's bounds: decompression bombs (PNGs of a few KiB declaring 16 and 400
/// megapixels) and an id of 10000 characters land on the DLQ with their reasons, the good pairs after
/// them still go through, and the bombs are refused from their header, without their pixels ever being
/// allocated.
/// </summary>
[Collection(MeasuredAloneCollection.Name)]
public sealed class HostileRecordTests(ITestOutputHelper output)
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    /// <summary>What processing all the hostile records may allocate in this process (decoding one 4096 x 4096 bomb alone takes 128 MiB).</summary>
    const long AllocationLimit = 48L << 20;
    /// <summary>A loose bound on the process's working set (native memory, the broker's buffers, JIT included).</summary>
    const long WorkingSetLimit = 256L << 20;

    static void Kcat(EmbeddedKafka kafka, IEnumerable<string> lines)
    {
        // One partition: the good pairs after the bombs prove the consumer went on past them.
        var psi = new ProcessStartInfo("kcat") { RedirectStandardInput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-P", "-b", kafka.BootstrapServers, "-t", IngressTopics.Pairs, "-p", "0" }) psi.ArgumentList.Add(arg);
        Process kcat;
        try { kcat = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException("kcat is not installed: run scripts/setup.sh test (apt-get install -y kcat)", e); }
        using (kcat)
        {
            var stderr = kcat.StandardError.ReadToEndAsync();
            foreach (var line in lines) kcat.StandardInput.WriteLine(line);
            kcat.StandardInput.Close();
            Assert.True(kcat.WaitForExit(60_000), "kcat did not finish");
            Assert.True(kcat.ExitCode == 0, $"kcat failed: {stderr.Result}");
        }
    }

    [Fact]
    public async Task Bombs_and_an_overlong_id_go_to_the_dlq_with_reasons_without_their_pixels_being_allocated()
    {
        var settings = CadStreamSettings.Load(Repo.File("config", "cadstream.json"), new Dictionary<string, string?>());
        var decoder = new PairDecoder(IngressTestKit.Catalog, settings.Ingress);
        using var kafka = EmbeddedKafka.Start();
        var sink = new RecordingSink();
        using var consumer = StartConsumer(kafka, sink, output, decoder: decoder);

        // The consumer is warm (assigned, one pair through) before anything is measured.
        Kcat(kafka, [$$"""{"id": "warm-up", "image_png": "{{Convert.ToBase64String(Png.Encode(GreyPixels(1), 28, 28))}}", "label": 1}"""]);
        await WaitUntil(() => sink.Count == 1, Patience, () => $"the warm-up pair (have {sink.Count})");

        // Within MaxImageSide (4096) but 16 times MaxPixels: only the pixel bound stops these; every row is there,
        // so decoding would really produce 16 Mi pixels.
        var bomb = Convert.ToBase64String(BombPng(4096, 4096));
        // 400 megapixels declared over one row of data.
        var huge = Convert.ToBase64String(BombPng(20000, 20000, rows: 1));
        var good = Convert.ToBase64String(Png.Encode(GreyPixels(2), 28, 28));
        const int bombs = 6;
        var lines = new List<string>();
        for (int i = 0; i < bombs; i++) lines.Add($$"""{"id": "bomb-{{i}}", "image_png": "{{bomb}}", "label": 3}""");
        lines.Add($$"""{"id": "huge", "image_png": "{{huge}}", "label": 3}""");
        lines.Add($$"""{"id": "{{new string('i', 10_000)}}", "image_png": "{{good}}", "label": 4}""");
        for (int i = 0; i < 3; i++) lines.Add($$"""{"id": "good-{{i}}", "image_png": "{{good}}", "label": {{i}}}""");
        output.WriteLine($"bomb PNG {bomb.Length * 3 / 4} bytes declaring 4096x4096; huge PNG {huge.Length * 3 / 4} bytes declaring 20000x20000");

        GC.Collect();
        GC.WaitForPendingFinalizers();
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        long heapBefore = GC.GetTotalMemory(forceFullCollection: false);
        using var self = Process.GetCurrentProcess();
        long workingSetBefore = self.WorkingSet64;

        Kcat(kafka, lines);
        await WaitUntil(() => sink.Count == 4 && consumer.DeadLettered == bombs + 2, Patience,
            () => $"3 more pairs and {bombs + 2} dead letters (have {sink.Count} pairs, {consumer.DeadLettered} dead letters)");

        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        long heapGrowth = GC.GetTotalMemory(forceFullCollection: false) - heapBefore;
        self.Refresh();
        long workingSetGrowth = self.WorkingSet64 - workingSetBefore;
        output.WriteLine($"while {bombs + 2} hostile and 3 good records went through: allocated {allocated / 1024.0 / 1024:F1} MiB, " +
                         $"heap {heapGrowth / 1024.0 / 1024:+0.0;-0.0} MiB, working set {workingSetGrowth / 1024.0 / 1024:+0.0;-0.0} MiB");

        Assert.Equal(["warm-up", "good-0", "good-1", "good-2"], sink.Pairs.Select(p => p.Id));
        var dlq = ReadTopic(kafka, IngressTopics.DeadLetters, bombs + 2, Patience);
        Assert.Equal(bombs + 2, dlq.Count);
        var reasons = dlq.Select(r => Header(r, IngressTopics.ErrorHeader)).ToList();
        Assert.Equal(bombs, reasons.Count(r => r == "image 4096x4096 declares 16777216 pixels, more than the 1048576 allowed (Ingress:MaxPixels)"));
        Assert.Contains("image 20000x20000 exceeds 4096x4096", reasons);
        Assert.Contains("id of 10000 characters exceeds the 256-character limit (Ingress:MaxIdLength)", reasons);
        // The records go to the DLQ unchanged.
        Assert.Contains(dlq, r => Encoding.UTF8.GetString(r.Message.Value!) == lines[bombs + 1]);

        // One decoded bomb alone would allocate its 4096 x 4096 RGBA buffer (64 MiB) and a float plane (64 MiB).
        Assert.True(allocated < AllocationLimit,
            $"processing the hostile records allocated {allocated / 1024.0 / 1024:F1} MiB (limit {AllocationLimit >> 20} MiB): were the bombs decoded?");
        Assert.True(workingSetGrowth < WorkingSetLimit,
            $"the working set grew by {workingSetGrowth / 1024.0 / 1024:F1} MiB (limit {WorkingSetLimit >> 20} MiB)");
        await consumer.StopAsync();
    }
}
