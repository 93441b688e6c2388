using CadStream.Ingress.Kafka;
using CadStream.Ingress.Producing;
using CadStream.Records;
using CadStream.Tests.Host;
using CadStream.Tests.Ingress.Kafka;
using Xunit.Abstractions;
using static CadStream.Tests.Ingress.Kafka.KafkaTestKit;

namespace CadStream.Tests.Ingress.Producing;

/// <summary>`cadstream produce` as a separate process, into an embedded broker of the test process.</summary>
public sealed class ProduceCommandTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Produce_streams_json_and_protobuf_pairs_that_ingress_accepts()
    {
        using var kafka = EmbeddedKafka.Start();
        var sink = new RecordingSink();
        using var consumer = StartConsumer(kafka, sink, output);

        var proto = CliRunner.Run(["produce", "--bootstrap", kafka.BootstrapServers, "--count", "30", "--format", "protobuf",
            "--noise", "entropy", "--seed", "3"], timeoutSeconds: 120);
        Assert.True(proto.ExitCode == 0, proto.Stderr);
        Assert.Contains("produced 30 pairs to cad.pairs", proto.Stdout);
        Assert.Contains("30 delivered, 0 failed", proto.Stdout);
        Assert.Contains("labels wrong", proto.Stderr);

        var json = CliRunner.Run(["produce", "--bootstrap", kafka.BootstrapServers, "--count", "10", "--format", "json",
            "--noise", "none", "--seed", "4", "--rate", "200", "--model", "fashion-cad"], timeoutSeconds: 120);
        Assert.True(json.ExitCode == 0, json.Stderr);
        Assert.Contains("produced 10 pairs", json.Stdout);

        await WaitUntil(() => sink.Count == 40, TimeSpan.FromSeconds(30), () => $"40 pairs (have {sink.Count}, rejected {consumer.Rejected})");
        Assert.Equal(0, consumer.Rejected);
        var pairs = sink.Pairs.ToList();
        Assert.Equal(40, pairs.Select(p => p.Id).Distinct().Count());
        Assert.All(pairs, p =>
        {
            Assert.StartsWith("fashion-mnist/train/", p.Id);
            Assert.InRange(p.Label!.Value, 0, 9);
            Assert.NotNull(p.Coherence);
            Assert.InRange(p.Coherence!.Value, 0f, 1f);
            Assert.Equal(784, p.Pixels.Length);
            Assert.Contains(p.Pixels, v => v > 0); // a real picture, not a blank
        });
        // --noise none: clean labels, coherence 1.
        Assert.Equal(10, pairs.Count(p => p.Coherence == 1f));
    }

    [Fact]
    public async Task Produce_with_captions_writes_records_that_ingress_routes_to_class_and_text_models()
    {
        using var kafka = EmbeddedKafka.Start();
        var sink = new RecordingSink();
        using var consumer = StartConsumer(kafka, sink, output, decoder: CaptionTestKit.MixedDecoder);

        const int count = 80;
        var r = CliRunner.Run(["produce", "--bootstrap", kafka.BootstrapServers, "--count", $"{count}", "--condition", "caption",
            "--caption-wrong", "0.3", "--caption-none", "0.2", "--noise", "none", "--format", "protobuf", "--seed", "8"], timeoutSeconds: 120);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains($"produced {count} pairs", r.Stdout);
        Assert.Contains("30% name a wrong class, 20% no class", r.Stderr);

        await WaitUntil(() => sink.Count == count, TimeSpan.FromSeconds(30), () => $"{count} pairs (have {sink.Count}, rejected {consumer.Rejected})");
        Assert.Equal(0, consumer.Rejected);
        var pairs = sink.Pairs.ToList();
        var truth = CadStream.Data.FashionMnist.Load(train: true);
        int right = 0, wrong = 0, none = 0;
        foreach (var p in pairs)
        {
            Assert.Equal([CaptionTestKit.ClassModel, CaptionTestKit.TextModel], p.ModelIds);
            Assert.NotNull(p.Caption);
            Assert.Null(p.Coherence);  // the scorers give each kind its own
            // --noise none: the label is the image's own.
            int index = int.Parse(p.Id["fashion-mnist/train/".Length..]);
            Assert.Equal((int?)truth.Labels[index], p.Label);
            var named = CadStream.Data.Captions.CaptionVocabulary.ClassesNamedIn(p.Caption!);
            if (named.Count == 0) none++;
            else if (named.SetEquals([p.Label!.Value])) right++;
            else wrong++;
            Assert.False(HeldOutWording(p.Caption!), $"a held-out wording in a produced caption: '{p.Caption}'");
        }
        output.WriteLine($"captions: {right} name the class, {wrong} another, {none} none; e.g. '{pairs[0].Caption}', '{pairs[1].Caption}'");
        Assert.Equal(count, right + wrong + none);
        // 30 % and 20 % of 80, give or take what 80 draws allow.
        Assert.InRange(wrong, 12, 36);
        Assert.InRange(none, 6, 26);
        Assert.Equal(pairs.Count, pairs.Select(p => p.Caption).Distinct().Count());  // varied wording
    }

    /// <summary>Whether a text holds a held-out class name or the fixed words of a held-out template (kept for evaluation).</summary>
    static bool HeldOutWording(string caption)
    {
        var words = CadStream.Data.Captions.CaptionVocabulary.Words(caption);
        bool Holds(string phrase)
        {
            var p = CadStream.Data.Captions.CaptionVocabulary.Words(phrase);
            for (int i = 0; i + p.Length <= words.Length; i++)
                if (words.AsSpan(i, p.Length).SequenceEqual(p)) return true;
            return false;
        }
        var templateWords = CadStream.Data.Captions.CaptionVocabulary.HeldOutTemplates
            .Select(t => t.Replace("{a}", " ").Replace("{d}", " ").Trim()).Where(t => t.Length > 0);
        return CadStream.Data.Captions.CaptionVocabulary.HeldOutNames.SelectMany(n => n).Any(n => Holds(n.Text)) || templateWords.Any(Holds);
    }

    [Theory]
    [InlineData("--condition words", "--condition")]
    [InlineData("--condition caption --caption-wrong 0.8 --caption-none 0.5", "--caption-none")]
    [InlineData("--caption-wrong 2", "--caption-wrong")]
    [InlineData("--format xml", "--format")]
    [InlineData("--noise temperature", "--classifier")]
    [InlineData("--count -1", "--count")]
    [InlineData("--rate fast", "--rate")]
    [InlineData("--dataset cifar", "--dataset")]
    [InlineData("--kafka-config security.protocol=bogus", "security.protocol")]
    [InlineData("--kafka-config group.id=mine", "group.id")]
    [InlineData("--kafka-config sasl.password", "KEY=VALUE")]
    public void Bad_usage_exits_2_with_one_line(string args, string mentions)
    {
        var r = CliRunner.Run(["produce", .. args.Split(' ')], timeoutSeconds: 60);
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.StderrLines);
        Assert.Contains(mentions, r.Stderr);
    }

    [Fact]
    public void An_unreachable_broker_fails_with_one_clear_line()
    {
        var r = CliRunner.Run(["produce", "--bootstrap", "127.0.0.1:1", "--count", "5"], timeoutSeconds: 60);
        Assert.Equal(1, r.ExitCode);
        var error = Assert.Single(r.StderrLines, l => l.StartsWith("cadstream produce:"));
        Assert.Contains("cannot reach Kafka at 127.0.0.1:1", error);
    }
}

/// <summary>The stream's pacing: the demo holds its producer while consumers are far behind.</summary>
public sealed class PairStreamingTests
{
    [Fact]
    public async Task A_held_stream_sends_nothing_and_then_resumes_at_its_rate_without_a_burst()
    {
        using var kafka = EmbeddedKafka.Start();
        using var producer = new PairProducer(kafka.BootstrapServers);
        var pairs = Enumerable.Range(0, 10).Select(i => new PairRecord
            { Id = $"h-{i}", ImageU8 = new byte[784], Width = 28, Height = 28, Channels = 1, Label = i % 10, Coherence = 1 });
        var holding = true;
        int asked = 0;
        const double rate = 20;
        var run = Task.Run(() => PairStreaming.Run(producer, pairs, 10, rate, hold: () =>
        {
            Interlocked.Increment(ref asked);
            return Volatile.Read(ref holding);
        }));

        // The stream asks every 200 ms while held: 6 answers are over a second held, 20 pairs' worth at this rate.
        await WaitUntil(() => Volatile.Read(ref asked) >= 6, TimeSpan.FromSeconds(30), () => $"6 questions whether to hold (have {asked})");
        Assert.Equal(0, producer.Sent);  // held from the first pair on
        var released = System.Diagnostics.Stopwatch.StartNew();
        Volatile.Write(ref holding, false);
        var summary = await run;
        Assert.Equal(10, summary.Delivered);
        // Nine gaps at 20/s after the release: the second and more held are not made up for with a burst.
        Assert.True(released.Elapsed.TotalSeconds >= 9 / rate * 0.8, $"sent 10 pairs {released.Elapsed.TotalSeconds:F2} s after the release");
    }
}
