using CadStream.Catalog;
using CadStream.Catalog.Text;
using CadStream.Model;
using CadStream.Model.Networks;
using CadStream.Model.Networks.Conditions;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using static TorchSharp.torch;

namespace CadStream.Tests.Model.Sampling;

/// <summary>
/// A pixel-wise toy text "network": with s the mean of a caption's real token states (padding masked out),
/// eps = 0.1 x + 0.01 (s + 1) c + 0.02 s + 0.05 g. The 0.02 s term makes the second branch's caption
/// matter even at c = 0, so feeding it the prompt instead of the negative shows. Records every call.
/// </summary>
sealed class ToyTextDenoiser(ModelSpec spec) : IDenoiser
{
    public ModelSpec Spec { get; } = spec;
    public List<(int Rows, int Tokens, float[] Coherence, float[] Means)> Calls { get; } = [];

    public static double Eps(double x, double s, double c, double g) => 0.1 * x + 0.01 * (s + 1) * c + 0.02 * s + 0.05 * g;

    /// <summary>What the toy reads of a caption.</summary>
    public static double Mean(TokenStates t) => t.States.Average(v => (double)v);

    public Tensor Predict(Tensor xt, Tensor gamma, Conditioning cond)
    {
        Assert.Null(cond.Labels);
        var mask = cond.TokenMask!.to(ScalarType.Float32);
        var s = (cond.Tokens! * mask.unsqueeze(-1)).sum([1, 2]) / mask.sum(1).Times(cond.Tokens!.shape[2]);
        Calls.Add(((int)xt.shape[0], (int)cond.Tokens.shape[1], cond.Coherence.data<float>().ToArray(), s.data<float>().ToArray()));
        var perSample = (s.Plus(1) * cond.Coherence).Times(0.01f).Plus(s.Times(0.02f)).Plus(gamma.Times(0.05f));
        return xt.Times(0.1f).Plus(NoiseScheduler.Broadcast(perSample, xt));
    }
}

[Trait("Category", "Numeric")]
public class TextGuidanceTests
{
    static ModelSpec TextSpec(TrainingMode mode = TrainingMode.Cad) => TestModels.TinyText(mode) with { TextWidth = 4 };

    static TokenStates Caption(int tokens, float start) =>
        new(Enumerable.Range(0, tokens * 4).Select(i => start + 0.1f * i).ToArray(), tokens);

    [Theory]
    [InlineData(TrainingMode.Cad, 2.0, 1.0)]
    [InlineData(TrainingMode.Cad, 3.0, 0.4)]
    [InlineData(TrainingMode.Cfg, 1.5, 0.4)]
    public void Text_ca_cfg_matches_a_hand_computation(TrainingMode mode, double w, double coherence)
    {
        var device = TestModels.Cpu;
        var toy = new ToyTextDenoiser(TextSpec(mode));
        var prompt = Caption(3, 0.5f);     // shorter than the negative: its padding must be masked out
        var negative = Caption(5, -0.7f);
        const int count = 2, steps = 4;
        const long seed = 21;
        var images = new CadPipeline(toy, device).Sample([SampleRequest.ForPrompt(prompt, negative, count, coherence, w, seed)], new SamplerSettings(steps));

        // CAD: (prompt, c) against (negative, c = 0); classic CFG: (prompt, 1) against (negative, 1).
        bool cad = mode == TrainingMode.Cad;
        double sP = ToyTextDenoiser.Mean(prompt), sN = ToyTextDenoiser.Mean(negative);
        double cC = cad ? coherence : 1, cU = cad ? 0 : 1;
        var expected = HandDdim.Sample(seed, count, steps, (x, g) =>
        {
            double epsC = ToyTextDenoiser.Eps(x, sP, cC, g), epsU = ToyTextDenoiser.Eps(x, sN, cU, g);
            return (1 + w) * epsC - w * epsU;
        });
        var got = images[0].data<float>().ToArray();
        for (int p = 0; p < expected.Length; p++) Assert.True(Math.Abs(expected[p] - got[p]) < 1e-4, $"pixel {p}: {got[p]} from the pipeline, {expected[p]} by hand; calls {string.Join(" | ", toy.Calls.Select(c => string.Join(",", c.Coherence) + " / " + string.Join(",", c.Means)))}");

        // Both branches in one network call per step: the prompt's rows, then the negative's.
        Assert.Equal(steps, toy.Calls.Count);
        var call = toy.Calls[0];
        Assert.Equal(2 * count, call.Rows);
        Assert.Equal(5, call.Tokens);
        Assert.Equal(new[] { (float)cC, (float)cC, (float)cU, (float)cU }, call.Coherence);
        Assert.Equal(sP, call.Means[0], 5);
        Assert.Equal(sN, call.Means[2], 5);
    }

    [Fact]
    public void Unguided_text_requests_need_no_negative_and_run_one_branch()
    {
        var toy = new ToyTextDenoiser(TextSpec());
        var prompt = Caption(4, 0.2f);
        var images = new CadPipeline(toy, TestModels.Cpu).Sample([SampleRequest.ForPrompt(prompt, null, 2, 0.7, 0, 5)], new SamplerSettings(3));
        Assert.Equal(2, toy.Calls[0].Rows);
        var expected = HandDdim.Sample(5, 2, 3, (x, g) => ToyTextDenoiser.Eps(x, ToyTextDenoiser.Mean(prompt), 0.7, g));
        var got = images[0].data<float>().ToArray();
        for (int p = 0; p < expected.Length; p++) Assert.Equal(expected[p], got[p], 4);
    }

    [Fact]
    public void Requests_that_do_not_fit_the_model_are_refused_with_the_reason()
    {
        var text = TextSpec();
        var prompt = Caption(3, 0);
        Assert.Contains("not a label", Assert.Throws<ArgumentException>(() => new SampleRequest(1).Validate(text)).Message);
        Assert.Contains("negative", Assert.Throws<ArgumentException>(() => SampleRequest.ForPrompt(prompt, null, guidance: 1).Validate(text)).Message);
        Assert.Contains("wide", Assert.Throws<ArgumentException>(() => SampleRequest.ForPrompt(new TokenStates(new float[6], 2), null).Validate(text)).Message);
        Assert.Contains("at most", Assert.Throws<ArgumentException>(() => SampleRequest.ForPrompt(new TokenStates(new float[4 * 65], 65), null).Validate(text)).Message);
        Assert.Contains("not text", Assert.Throws<ArgumentException>(() => SampleRequest.ForPrompt(prompt, null).Validate(TestModels.Tiny())).Message);
        SampleRequest.ForPrompt(prompt, prompt, guidance: 2).Validate(text);
    }

    [Fact]
    public void The_default_negative_is_seeded_gibberish_for_cad_and_the_empty_caption_for_classic_guidance()
    {
        var seen = new HashSet<string>();
        for (long seed = 0; seed < 200; seed++)
        {
            var g = NegativePrompts.Gibberish(seed);
            Assert.Equal(g, NegativePrompts.Gibberish(seed));
            var words = g.Split(' ');
            Assert.InRange(words.Length, 3, 6);
            Assert.All(words, w => { Assert.InRange(w.Length, 3, 7); Assert.True(w.All(ch => ch is >= 'a' and <= 'z'), w); });
            seen.Add(g);
        }
        Assert.True(seen.Count > 195, $"only {seen.Count} distinct negatives from 200 seeds");
        Assert.Equal("", NegativePrompts.Default(coherenceAware: false, 3));
        Assert.Equal(NegativePrompts.Gibberish(3), NegativePrompts.Default(coherenceAware: true, 3));
    }
}
