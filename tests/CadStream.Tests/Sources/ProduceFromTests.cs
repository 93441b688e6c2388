using System.Formats.Tar;
using System.Text;
using CadStream.Imaging;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Tests.Host;
using CadStream.Tests.Ingress.Kafka;
using Xunit.Abstractions;
using static CadStream.Tests.Ingress.Kafka.KafkaTestKit;

namespace CadStream.Tests.Sources;

/// <summary>`cadstream produce --from` as a separate process, into an embedded broker and the ingress of the test process.</summary>
public sealed class ProduceFromTests(ITestOutputHelper output) : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("cad-from-").FullName;
    public void Dispose() => Directory.Delete(dir, recursive: true);

    string Shard(string name, params (string Name, byte[] Data)[] members)
    {
        var path = Path.Combine(dir, name);
        using var file = File.Create(path);
        using var tar = new TarWriter(file, TarEntryFormat.Pax);
        foreach (var (n, data) in members)
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, n) { DataStream = new MemoryStream(data) });
        return path;
    }

    static byte[] Picture(int seed)
    {
        var pixels = new byte[28 * 28];
        new Random(seed).NextBytes(pixels);
        return Png.Encode(pixels, 28, 28);
    }

    static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task Good_samples_reach_the_trainers_bad_ones_are_dead_lettered_with_their_reason_and_a_cut_shard_is_one_line()
    {
        using var kafka = EmbeddedKafka.Start();
        var sink = new RecordingSink();
        using var consumer = StartConsumer(kafka, sink, output);

        var good = Shard("good-000.tar",
            ("a.png", Picture(1)), ("a.cls", U("3")),
            ("b.png", Picture(2)), ("b.cls", U("5")),
            ("broken.jpg", [0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 0x4A]), ("broken.cls", U("1")), // a truncated JPEG
            ("lonely.cls", U("2"))); // a key with no image
        var cutPath = Shard("cut-001.tar", [.. Enumerable.Range(0, 6).SelectMany(i => new[] { ($"c{i}.png", Picture(10 + i)), ($"c{i}.cls", U("4")) })]);
        var bytes = File.ReadAllBytes(cutPath);
        File.WriteAllBytes(cutPath, bytes[..(bytes.Length * 2 / 3)]);

        var r = CliRunner.Run(["produce", "--bootstrap", kafka.BootstrapServers, "--from", good, Path.Combine(dir, "cut-*.tar"), "--format", "protobuf"], timeoutSeconds: 120);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var cutLine = Assert.Single(r.StderrLines, l => l.Contains("cut-001.tar"));
        Assert.Contains("truncated", cutLine);
        Assert.Contains("inputs: 1 read, 1 failed", r.Stdout);

        int fromCut = int.Parse(System.Text.RegularExpressions.Regex.Match(r.Stdout, @"(\d+) records read").Groups[1].Value) - 4;
        Assert.InRange(fromCut, 1, 5);
        await WaitUntil(() => sink.Count == 2 + fromCut && consumer.DeadLettered == 2, TimeSpan.FromSeconds(30),
            () => $"accepted {sink.Count} of {2 + fromCut}, dead-lettered {consumer.DeadLettered} of 2");
        Assert.Equal(["good-000.tar/a", "good-000.tar/b"], sink.Pairs.Select(p => p.Id).Where(id => id.StartsWith("good")).Order());
        Assert.Equal([3, 5], sink.Pairs.Where(p => p.Id.StartsWith("good")).OrderBy(p => p.Id).Select(p => p.Label!.Value));

        var dead = ReadTopic(kafka, IngressTopics.DeadLetters, 2, TimeSpan.FromSeconds(20));
        string Reason(Confluent.Kafka.ConsumeResult<byte[]?, byte[]?> m) => Encoding.UTF8.GetString(m.Message.Headers.GetLastBytes("cad-error"));
        Assert.Equal(2, dead.Count);
        Assert.All(dead, d => Assert.False(string.IsNullOrWhiteSpace(Reason(d))));
        output.WriteLine(string.Join("\n", dead.Select(Reason)));
    }

    [Fact]
    public void Nothing_readable_exits_1_and_a_path_naming_nothing_exits_2_with_one_line()
    {
        using var kafka = EmbeddedKafka.Start();
        var empty = Path.Combine(dir, "empty.tar");
        File.WriteAllBytes(empty, []);
        var r = CliRunner.Run(["produce", "--bootstrap", kafka.BootstrapServers, "--from", empty], timeoutSeconds: 60);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("nothing could be read", r.Stderr);

        var bad = CliRunner.Run(["produce", "--from", Path.Combine(dir, "nope.tar")], timeoutSeconds: 60);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("nope.tar: no such file or folder", Assert.Single(bad.StderrLines));

        var count = CliRunner.Run(["produce", "--from", empty, "--count", "5"], timeoutSeconds: 60);
        Assert.Equal(2, count.ExitCode);
        Assert.Contains("use --limit", Assert.Single(count.StderrLines));
        var limit = CliRunner.Run(["produce", "--limit", "5"], timeoutSeconds: 60);
        Assert.Equal(2, limit.ExitCode);
        Assert.Contains("--limit needs --from", Assert.Single(limit.StderrLines));

        var scale = CliRunner.Run(["produce", "--from", empty, "--score-scale", "percent"], timeoutSeconds: 60);
        Assert.Equal(2, scale.ExitCode);
        Assert.Contains("--score-scale", Assert.Single(scale.StderrLines));
    }

    [Fact]
    public async Task A_produce_killed_mid_way_and_run_again_with_the_same_resume_file_sends_every_record_at_least_once()
    {
        using var kafka = EmbeddedKafka.Start();
        var sink = new RecordingSink();
        using var consumer = StartConsumer(kafka, sink, output);
        const int total = 120;
        var shard = Shard("all.tar", [.. Enumerable.Range(0, total).SelectMany(i => new[] { ($"k{i:D3}.png", Picture(i)), ($"k{i:D3}.cls", U($"{i % 10}")) })]);
        var resume = Path.Combine(dir, "resume.txt");
        string[] args = ["produce", "--bootstrap", kafka.BootstrapServers, "--from", shard, "--resume", resume, "--shuffle-buffer", "16", "--seed", "5"];

        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "cadstream.dll"));
        foreach (var a in args.Concat(["--rate", "40"])) psi.ArgumentList.Add(a);
        using (var first = System.Diagnostics.Process.Start(psi)!)
        {
            _ = first.StandardOutput.ReadToEndAsync();
            _ = first.StandardError.ReadToEndAsync();
            long Mark() { try { return File.Exists(resume) ? ResumeMark() : 0; } catch (IOException) { return 0; } }
            long ResumeMark() => CadStream.Sources.ResumePoint.Load(resume);
            await WaitUntil(() => Mark() >= 20, TimeSpan.FromSeconds(60), () => $"a resume mark of 20 (have {Mark()})");
            first.Kill(entireProcessTree: true);
            first.WaitForExit();
        }
        long before = CadStream.Sources.ResumePoint.Load(resume);
        Assert.InRange(before, 20, total - 1);

        var second = CliRunner.Run(args, timeoutSeconds: 120);
        Assert.True(second.ExitCode == 0, second.Stderr);
        Assert.Contains($"resume: {before} records acknowledged before", second.Stderr);
        Assert.Contains($"resume: {total} records acknowledged in all", second.Stdout);
        Assert.Equal(total, CadStream.Sources.ResumePoint.Load(resume));

        await WaitUntil(() => sink.Pairs.Select(p => p.Id).Distinct().Count() == total, TimeSpan.FromSeconds(30),
            () => $"{total} distinct ids (have {sink.Pairs.Select(p => p.Id).Distinct().Count()})");
        Assert.Equal(Enumerable.Range(0, total).Select(i => $"all.tar/k{i:D3}"), sink.Pairs.Select(p => p.Id).Distinct().Order());
        output.WriteLine($"mark at the kill {before}; records received {sink.Count} for {total} ids");
    }
}
