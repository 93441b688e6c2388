using System.Diagnostics;
using CadStream.Catalog;
using CadStream.Catalog.Text;
using CadStream.Data;
using CadStream.Data.Captions;
using CadStream.Model;
using CadStream.Model.Sampling;
using CadStream.Model.Training;
using CadStream.Scoring;
using CadStream.Tests.Text;
using CadStream.Text;
using Xunit.Abstractions;

namespace CadStream.Tests.Model;

/// <summary>
/// The real text model (MiniLM token states, coherence token, registers, self-attention, cross-attention)
/// learns to use the coherence: trained for 700 steps in mode cad on captioned Fashion-MNIST images of three
/// distinct classes (trouser, sneaker, bag) where half the pairs carry a caption of their own class at
/// c = 1 and half a caption naming a random one of the three at c = 0, its samples for held-out prompts
/// (names and templates no training caption used) show the named class far more often at c = 1 than at
/// c = 0. A network that ignored c would see the same half-right captions at every c and sample alike.
/// Measured on the training captions' class names too, where a short run follows the caption more
/// clearly than on wordings it never saw.
/// </summary>
[Collection(MiniLmFixture.Name)]
public class TextCoherenceDependenceTests(MiniLmFixture fixture, ITestOutputHelper output)
{
    const int Images = 600, Steps = 700, Batch = 32;
    /// <summary>The seed the test trains with (initial weights, noise draws, batch order).</summary>
    public const int Seed = 1;

    /// <summary>Agreement with the class a prompt names at c = 1 and c = 0, for held-out prompts and for the training captions' names.</summary>
    public sealed record Figures(double AtOne, double AtZero, double NamesAtOne, double NamesAtZero, long Parameters, TimeSpan EncodedIn, TimeSpan TrainedIn, TimeSpan Total);

    /// <summary>
    /// Trains with <paramref name="seed"/> and measures. Deterministic: captions, data and sampling seeds are
    /// fixed, each caption's token states do not depend on its batch mates (the encoder encodes it alone), the
    /// network's weights and noise come from the seed, the test classifier is the same in every run, and the
    /// thread count is pinned, so one seed gives the same figures in every run on a machine.
    /// </summary>
    public static Figures Measure(ITextEncoder encoder, int seed) => TestModels.Pinned(() =>
    {
        var clock = Stopwatch.StartNew();
        int[] classes = [1, 7, 8];
        var all = FashionMnist.Load(train: true);
        var data = all.Select(Enumerable.Range(0, all.Count).Where(i => classes.Contains(all.Labels[i])).Take(Images).ToArray());
        // The caption of an untrusted pair names a random class of the three; the pair keeps its true label.
        var (named, coherence) = TestClassifier.HalfTrusted(data, classes);
        var pairs = data.Pairs(coherence: coherence);
        var bank = TokenBank.Build(encoder, new CaptionGenerator(CaptionNoise.None, seed: 5).Captions(pairs, named));
        var encodedIn = clock.Elapsed;
        pairs = pairs.WithCaptions(new TokenBankCaptions(bank));
        var spec = TestModels.Tiny() with
        {
            Kind = ConditionKind.Text, Classes = FashionMnist.ClassNames.ToArray(), Width = 16, ChannelMultipliers = [1, 2], PaddedSize = 32,
            CrossAttentionResolutions = [8], LearningRate = 3e-3, WarmupSteps = 20, EmaDecay = 0.98, Seed = seed,
        };
        using var trainer = new CadTrainer(spec, TestModels.Cpu) { TextEncoder = encoder.Identity };
        OfflineTraining.Run(trainer, pairs, steps: Steps, batchSize: Batch, seed: seed);
        var trainedIn = clock.Elapsed;

        using var denoiser = trainer.ToSnapshot(1, includeTrainingState: false).CreateDenoiser(TestModels.Cpu, encoder.Identity);
        var pipeline = new CadPipeline(denoiser, TestModels.Cpu);
        using var classifier = FashionClassifier.Load(TestClassifier.File);
        double Agreement(double c, Func<int, IEnumerable<string>> prompts)
        {
            // CA-CFG at w = 3 with the default negative (gibberish at c = 0), each prompt of each class.
            var requests = classes.SelectMany(k => prompts(k).Select((p, i) =>
            {
                long sampleSeed = 100 * k + i;
                var negative = encoder.TokenStatesOf(NegativePrompts.For(spec, null, sampleSeed));
                return SampleRequest.ForPrompt(encoder.TokenStatesOf(p), negative, 12, c, 3, sampleSeed, label: k);
            })).ToArray();
            return TestClassifier.Agreement(classifier, pipeline, requests);
        }
        IEnumerable<string> HeldOut(int k) => CaptionGenerator.HeldOutPrompts(k);
        IEnumerable<string> Trained(int k) => CaptionVocabulary.TrainingNames[k].Take(4).Select(n => "a photo of " + n.Text);
        double atOne = Agreement(1, HeldOut), atZero = Agreement(0, HeldOut);
        double namesAtOne = Agreement(1, Trained), namesAtZero = Agreement(0, Trained);
        return new Figures(atOne, atZero, namesAtOne, namesAtZero, trainer.Model.ParameterCount(), encodedIn, trainedIn, clock.Elapsed);
    });

    [Fact]
    public void A_text_cad_model_follows_prompts_at_c_1_and_much_less_at_c_0()
    {
        var f = Measure(fixture.Encoder, Seed);
        output.WriteLine($"seed {Seed}: {Images} captions encoded in {f.EncodedIn.TotalSeconds:F1} s; trained {Steps} steps of {Batch} in {(f.TrainedIn - f.EncodedIn).TotalSeconds:F0} s " +
                         $"({f.Parameters:N0} parameters); agreement with the class a held-out prompt names: {f.AtOne:F3} at c = 1, {f.AtZero:F3} at c = 0; " +
                         $"with the training captions' class names: {f.NamesAtOne:F3} at c = 1, {f.NamesAtZero:F3} at c = 0 " +
                         $"({f.Total.TotalSeconds:F0} s in all)");
        // Seeds 0-4 gave, for the training captions' names, 0.611-0.750 at c = 1 and 0.306-0.500 at c = 0, margins
        // 0.111-0.354 (seed 1: 0.750 and 0.410); for held-out prompts margins 0.049-0.160, all positive (seed 1: 0.451
        // and 0.361). Chance is 1/3 among the three classes (the classifier may also name another class), and a
        // network blind to c would give the same images at both c (same seeds, same negative), a margin of exactly 0.
        // The bounds are half the smallest excess seen: 0.47 at c = 1 (chance + 0.278 / 2), a margin of 0.05
        // (0.111 / 2), and for held-out wordings, which so short a run follows only weakly, the direction.
        Assert.True(f.NamesAtOne >= 0.47, $"at c = 1 only {f.NamesAtOne:F3} of samples show the class the prompt names");
        Assert.True(f.NamesAtOne >= f.NamesAtZero + 0.05, $"agreement {f.NamesAtOne:F3} at c = 1 against {f.NamesAtZero:F3} at c = 0: the samples barely depend on c");
        Assert.True(f.AtOne > f.AtZero, $"held-out prompts: agreement {f.AtOne:F3} at c = 1 against {f.AtZero:F3} at c = 0: no higher at c = 1");
    }
}
