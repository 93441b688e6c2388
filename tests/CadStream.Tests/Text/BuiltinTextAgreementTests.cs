using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using CadStream.Actors.Scoring;
using CadStream.Actors.Training;
using CadStream.Data;
using CadStream.Data.Captions;
using CadStream.Records.Coherence;
using CadStream.Scoring;
using CadStream.Tests.Ingress;
using CadStream.Tests.Model;
using Xunit.Abstractions;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;

namespace CadStream.Tests.Text;

/// <summary>
/// The built-in image-caption agreement with its real parts: a trained clean-label classifier and the MiniLM
/// encoder. A caption naming the image's class must agree more than one naming another class, first as raw
/// agreement and then as coherence from a scorer.
/// </summary>
[Collection(MiniLmFixture.Name)]
public sealed class BuiltinTextAgreementTests(MiniLmFixture fixture, ITestOutputHelper output)
{
    const int Images = 96;

    /// <summary>
    /// Test images with a generated caption naming their class and one naming another (same seed and index:
    /// the same wording otherwise, web clutter included), as the stream has them.
    /// </summary>
    static (FashionMnist Data, string[] Right, string[] Wrong) Generated()
    {
        var data = FashionMnist.Load(train: false).Slice(0, Images);
        var right = new CaptionGenerator(CaptionNoise.None, seed: 5);
        var wrong = new CaptionGenerator(new CaptionNoise(WrongClass: 1, NoClass: 0), seed: 5);
        string Say(CaptionGenerator g, int i) => g.Generate(data.Pixels.AsSpan(i * FashionMnist.ImageBytes, FashionMnist.ImageBytes), data.Labels[i], i).Text;
        return (data, Enumerable.Range(0, Images).Select(i => Say(right, i)).ToArray(), Enumerable.Range(0, Images).Select(i => Say(wrong, i)).ToArray());
    }

    /// <summary>
    /// Test images with a plain caption naming their class ("photo of a sweater", a training name) and the
    /// same caption naming another class, every other class in turn.
    /// </summary>
    static (FashionMnist Data, string[] Right, string[] Wrong) Plain(int from = 0)
    {
        var data = FashionMnist.Load(train: false).Slice(from, Images);
        string Say(int label, int i)
        {
            var names = CaptionVocabulary.TrainingNames[label];
            var name = names[i % names.Count];
            return name.Plural ? $"photo of a pair of {name.Text}" : $"photo of a {name.Text}";
        }
        return (data, Enumerable.Range(0, Images).Select(i => Say(data.Labels[i], i)).ToArray(),
            Enumerable.Range(0, Images).Select(i => Say((data.Labels[i] + 1 + i % 9) % 10, i)).ToArray());
    }

    static PairToScore[] Pairs(FashionMnist data, string[] captions, string tag) =>
        Enumerable.Range(0, captions.Length).Select(i => new PairToScore($"{tag}-{i}", [CaptionTestKit.TextModel], data.Labels[i], null, null,
            data.Pixels.AsSpan(i * FashionMnist.ImageBytes, FashionMnist.ImageBytes).ToArray(), captions[i])).ToArray();

    ClassifierTextAgreement Agreement() =>
        new(new ClassifierCopy(ClassifierSource.Existing(TestClassifier.File)), new CaptionAgreement(fixture.Encoder, ClassDescriptions.FashionMnist));

    [Fact]
    public void A_caption_naming_the_images_class_agrees_more_than_one_naming_another()
    {
        using var agreement = Agreement();
        var spec = TestModels.FashionText(CaptionTestKit.TextModel);
        (double Right, double Wrong, int Ahead) Measure(string what, (FashionMnist Data, string[] Right, string[] Wrong) set)
        {
            var a = agreement.Agreement(spec, Pairs(set.Data, set.Right, "right"))!;
            var b = agreement.Agreement(spec, Pairs(set.Data, set.Wrong, "wrong"))!;
            Assert.All(a.Concat(b), x => Assert.InRange(x, -1, 1));
            int ahead = Enumerable.Range(0, Images).Count(i => a[i] > b[i]);
            output.WriteLine($"{what}: mean agreement naming the class {a.Average():F3}, naming another {b.Average():F3}; ahead on {ahead}/{Images}");
            for (int i = 0; i < 3; i++) output.WriteLine($"  {a[i]:F3} '{set.Right[i]}'  vs  {b[i]:F3} '{set.Wrong[i]}'");
            return (a.Average(), b.Average(), ahead);
        }

        var plain = Measure("plain captions", Plain());
        // Measured 86 of 96 with the test classifier (one epoch on 3000 images, the same weights in every run): where it
        // mistakes the image, the ranking may flip.
        Assert.True(plain.Ahead >= Images * 0.8, $"the plain caption naming the image's class agreed more on only {plain.Ahead} of {Images} images");
        Assert.True(plain.Right - plain.Wrong > 0.15, $"mean agreement {plain.Right:F3} vs {plain.Wrong:F3}");
        // The stream's captions: clutter and attribute words dilute the class name, and the classifier is wrong
        // at times, so the ranking holds less often (measured: 74 of 96), yet it holds on the whole.
        var generated = Measure("generated captions", Generated());
        Assert.True(generated.Ahead >= Images * 0.6, $"the generated caption naming the image's class agreed more on only {generated.Ahead} of {Images} images");
        Assert.True(generated.Right - generated.Wrong > 0.05, $"mean agreement {generated.Right:F3} vs {generated.Wrong:F3}");

        // Only models whose images the classifier reads: another shape is not known (null), not guessed.
        var (data, right, _) = Plain();
        Assert.Null(agreement.Agreement(spec with { ImageSize = 32 }, Pairs(data, right, "r")));
    }

    [Fact]
    public async Task A_scorer_turns_agreement_into_binned_coherence_that_ranks_the_right_caption_higher()
    {
        using var system = ActorSystem.Create("agreement", ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.coordinated-shutdown.exit-clr = off"));
        var got = new ConcurrentQueue<TrainPairs>();
        var trainers = system.ActorOf(Props.Create(() => new Collect(got)));
        var tables = new CoherenceTables(sampleSize: 2 * Images, bins: 8, scoreScale: 100);
        var scorer = system.ActorOf(ScorerActor.PropsFor(new ScorerServices(CaptionTestKit.Mixed, tables, () => null, Agreement), trainers));
        async Task<Dictionary<string, float>> Score(PairToScore[] pairs)
        {
            got.Clear();
            for (int b = 0; b < pairs.Length; b += 32) scorer.Tell(new ScorePairs(b, trainers, pairs[b..Math.Min(pairs.Length, b + 32)]));
            await WaitUntilAsync(() => got.Count == (pairs.Length + 31) / 32, TimeSpan.FromSeconds(120), () => $"scored batches (have {got.Count})");
            return got.SelectMany(g => g.Pairs).ToDictionary(p => p.Id, p => p.Coherence);
        }

        // Other images' captions, right and wrong, freeze the table first: the probe below is binned by one table.
        var warm = Plain(from: Images);
        await Score(Pairs(warm.Data, warm.Right, "warm-right").Concat(Pairs(warm.Data, warm.Wrong, "warm-wrong")).ToArray());
        var table = tables.Get(CaptionTestKit.TextModel);
        Assert.NotNull(table);
        Assert.Equal(1, table.Version);

        var (data, right, wrong) = Plain();
        var coherence = await Score(Pairs(data, right, "right").Concat(Pairs(data, wrong, "wrong")).ToArray());
        Assert.All(got, g => Assert.Same(table, g.Bins));
        double meanRight = Enumerable.Range(0, Images).Average(i => coherence[$"right-{i}"]);
        double meanWrong = Enumerable.Range(0, Images).Average(i => coherence[$"wrong-{i}"]);
        int notBelow = Enumerable.Range(0, Images).Count(i => coherence[$"right-{i}"] >= coherence[$"wrong-{i}"]);
        output.WriteLine($"{table}");
        output.WriteLine($"mean coherence: right captions {meanRight:F3}, wrong {meanWrong:F3}; right >= wrong on {notBelow}/{Images}");
        Assert.True(meanRight - meanWrong > 0.15, $"mean coherence {meanRight:F3} (right) vs {meanWrong:F3} (wrong)");
        Assert.True(notBelow >= Images * 0.8, $"right >= wrong on only {notBelow} of {Images}");
        // Every coherence is a bin's: (bin - 1) / 7.
        Assert.All(coherence.Values, c => Assert.Contains(c, Enumerable.Range(0, 8).Select(k => (float)(k / 7.0))));
    }

    sealed class Collect : ReceiveActor
    {
        public Collect(ConcurrentQueue<TrainPairs> got) => Receive<TrainPairs>(got.Enqueue);
    }
}

/// <summary><c>Scoring:TextAgreement</c>: built-in or none; a user's image-text model is refused with a clear reason until it has a loader.</summary>
public sealed class TextAgreementSettingTests
{
    [Theory]
    [InlineData("builtin")]
    [InlineData("none")]
    [InlineData("")]
    public void Builtin_and_none_are_accepted(string value) => new ScoringOptions { TextAgreement = value }.Validate();

    [Fact]
    public void An_onnx_model_is_not_supported_yet_and_says_what_to_use()
    {
        var options = new ScoringOptions { TextAgreement = "/models/clip-vit-b32.onnx" };
        var e = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("'/models/clip-vit-b32.onnx'", e.Message);
        Assert.Contains("not supported yet", e.Message);
        Assert.Contains("\"builtin\"", e.Message);
        var atStart = Assert.Throws<InvalidDataException>(() => TextAgreementModels.Create(options, CaptionTestKit.Mixed, scores: true, new CadStream.Text.LazyTextEncoder()));
        Assert.Equal(e.Message, atStart.Message);
    }

    [Fact]
    public void Without_a_classifier_or_a_text_model_nothing_is_loaded_and_the_reason_is_given()
    {
        using var noClassifier = TextAgreementModels.Create(new ScoringOptions(), CaptionTestKit.Mixed, scores: true, new CadStream.Text.LazyTextEncoder());
        Assert.Null(noClassifier.Factory());
        Assert.Contains("Scoring:Classifier", noClassifier.NotScoredBecause);
        using var noText = TextAgreementModels.Create(new ScoringOptions(), CadStream.Tests.Ingress.IngressTestKit.Catalog, scores: true, new CadStream.Text.LazyTextEncoder());
        Assert.Null(noText.Factory());
        Assert.Null(noText.NotScoredBecause);
        using var none = TextAgreementModels.Create(new ScoringOptions { TextAgreement = "none" }, CaptionTestKit.Mixed, scores: true, new CadStream.Text.LazyTextEncoder());
        Assert.Null(none.Factory());
        Assert.Contains("none", none.NotScoredBecause);
        Assert.Throws<ArgumentException>(new ScoringOptions { ScoreBinSamples = 0 }.Validate);
        Assert.Throws<ArgumentException>(new ScoringOptions { ScoreScale = -1 }.Validate);
    }

    [Fact]
    public void A_node_refuses_an_onnx_model_at_start_with_one_line_and_exit_code_2()
    {
        var folder = Path.Combine(Path.GetTempPath(), "cadstream-tests", "text-agreement-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            var file = Path.Combine(folder, "node.json");
            var overlay = new { Base = Repo.File("config", "cadstream.json"), Scoring = new { TextAgreement = "clip.onnx" } };
            File.WriteAllText(file, System.Text.Json.JsonSerializer.Serialize(overlay));
            var r = CadStream.Tests.Host.CliRunner.Run(["node", "--config", file, "--roles", "scorer"], timeoutSeconds: 120);
            Assert.Equal(2, r.ExitCode);
            var line = Assert.Single(r.StderrLines);
            Assert.Contains("Scoring:TextAgreement 'clip.onnx'", line);
            Assert.Contains("not supported yet", line);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
