using CadStream.Catalog;
using CadStream.Model;
using CadStream.Model.Networks;
using CadStream.Model.Networks.Conditions;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using static TorchSharp.torch;

namespace CadStream.Tests.Model.Sampling;

/// <summary>
/// A pixel-wise toy "network" whose output is easy to compute by hand:
/// eps = 0.1 x + 0.01 (label + 1) coherence + 0.05 g. It records every call's batch.
/// </summary>
sealed class ToyDenoiser(ModelSpec spec) : IDenoiser
{
    public ModelSpec Spec { get; } = spec;
    public List<(long[] Labels, float[] Coherence)> Calls { get; } = [];

    public static double Eps(double x, double label, double c, double g) => 0.1 * x + 0.01 * (label + 1) * c + 0.05 * g;

    public Tensor Predict(Tensor xt, Tensor gamma, Conditioning cond)
    {
        Calls.Add((cond.Labels!.data<long>().ToArray(), cond.Coherence.data<float>().ToArray()));
        var perSample = (cond.Labels!.to(ScalarType.Float32).Plus(1) * cond.Coherence).Times(0.01f).Plus(gamma.Times(0.05f));
        return xt.Times(0.1f).Plus(NoiseScheduler.Broadcast(perSample, xt));
    }
}

[Trait("Category", "Numeric")]
public class GuidanceAndSamplerTests
{
    [Fact]
    public void Combine_matches_formula()
    {
        _ = TestModels.Cpu;
        using var c = tensor(new float[] { 1f, -2f, 0.5f });
        using var u = tensor(new float[] { 0.5f, 1f, 0.5f });
        using var r = Guidance.Combine(c, u, 3.0);
        Assert.Equal(new[] { 2.5f, -11f, 0.5f }, r.data<float>().ToArray());
        Assert.Equal(2.5, Guidance.Combine(1, 0.5, 3), 12);
    }

    [Theory]
    [InlineData(2.0, 1.0)]
    [InlineData(0.0, 0.3)]
    public void CaCfg_pipeline_matches_hand_computation(double w, double coherence)
    {
        var device = TestModels.Cpu;
        var config = TestModels.Tiny();
        var toy = new ToyDenoiser(config);
        const int label = 4, count = 2, steps = 4;
        const long seed = 11;
        var images = new CadPipeline(toy, device).Sample([new SampleRequest(label, count, coherence, w, seed)], new SamplerSettings(steps));

        // The same noise, then the DDIM recursion in doubles.
        var x = HandDdim.Sample(seed, count, steps, (xp, gT) =>
        {
            double epsC = ToyDenoiser.Eps(xp, label, coherence, gT);
            double epsU = ToyDenoiser.Eps(xp, label, 0, gT);
            return epsC + w * (epsC - epsU);
        });
        var got = images[0].data<float>().ToArray();
        for (int p = 0; p < x.Length; p++) Assert.Equal(x[p], got[p], 4);

        // One network call per step; with guidance both branches ride in it (c, then c = 0).
        Assert.Equal(steps, toy.Calls.Count);
        var call = toy.Calls[0];
        if (w != 0)
        {
            Assert.Equal(2 * count, call.Labels.Length);
            Assert.All(call.Labels, l => Assert.Equal(label, l));
            Assert.Equal(new float[] { (float)coherence, (float)coherence, 0f, 0f }, call.Coherence);
        }
        else Assert.Equal(new float[] { (float)coherence, (float)coherence }, call.Coherence);
    }

    [Fact]
    public void Classic_cfg_uses_the_null_class_as_second_branch()
    {
        var config = TestModels.Tiny(TrainingMode.Cfg);
        var toy = new ToyDenoiser(config);
        new CadPipeline(toy, TestModels.Cpu).Sample([new SampleRequest(3, 1, 1.0, 1.5, 0)], new SamplerSettings(2));
        Assert.Equal(new long[] { 3, 10 }, toy.Calls[0].Labels);
        Assert.Equal(new float[] { 1f, 1f }, toy.Calls[0].Coherence);
    }

    [Fact]
    public void Jobs_share_one_forward_pass_per_step()
    {
        var toy = new ToyDenoiser(TestModels.Tiny());
        var jobs = new[] { new SampleRequest(1, 2, 1, 1, 1), new SampleRequest(2, 3, 0.5, 0, 2), new SampleRequest(3, 1, 1, 4, 3) };
        var result = new CadPipeline(toy, TestModels.Cpu).Sample(jobs, new SamplerSettings(3));
        Assert.Equal(3, toy.Calls.Count);
        Assert.Equal(2 + 3 + 1 + 2 + 1, toy.Calls[0].Labels.Length);
        Assert.Equal(new long[] { 2, 3, 1 }, result.Select(r => r.shape[0]).ToArray());
    }

    [Fact]
    public void Ddim_with_exact_noise_recovers_the_forward_process()
    {
        _ = TestModels.Cpu;
        using var g = new Generator(5, CPU);
        using var x0 = rand([3, 1, 4, 4], generator: g).Times(1.8).Minus(0.9);
        using var eps = randn([3, 1, 4, 4], generator: g);
        double gT = 0.3, gS = 0.7;
        using var xt = NoiseScheduler.Forward(x0, eps, TensorMath.Full(3, gT, ScalarType.Float32));
        using var xs = NoiseScheduler.DdimStep(xt, eps, gT, gS, 0, null);
        using var expected = NoiseScheduler.Forward(x0, eps, TensorMath.Full(3, gS, ScalarType.Float32));
        Assert.True(allclose(xs, expected, rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void Ddpm_mean_and_variance_match_the_posterior()
    {
        _ = TestModels.Cpu;
        double gT = 0.2, gS = 0.6, x0 = 0.5, xtv = 0.3;
        double eps = (xtv - Math.Sqrt(gT) * x0) / Math.Sqrt(1 - gT);  // the eps that makes x0 exact
        using var xt = zeros(new long[] { 1, 1, 1, 1 }, ScalarType.Float64).FillInPlace(xtv);
        using var e = zeros(new long[] { 1, 1, 1, 1 }, ScalarType.Float64).FillInPlace(eps);
        using var zero = zeros_like(xt);
        using var one = ones_like(xt);
        double a = gT / gS;
        double mean = Math.Sqrt(gS) * (1 - a) / (1 - gT) * x0 + Math.Sqrt(a) * (1 - gS) / (1 - gT) * xtv;
        double sd = Math.Sqrt((1 - a) * (1 - gS) / (1 - gT));
        using var m = NoiseScheduler.DdpmStep(xt, e, gT, gS, zero);
        using var m1 = NoiseScheduler.DdpmStep(xt, e, gT, gS, one);
        Assert.Equal(mean, m.item<double>(), 9);
        Assert.Equal(mean + sd, m1.item<double>(), 9);
    }

    [Theory]
    [InlineData(SamplerKind.Ddim)]
    [InlineData(SamplerKind.Ddpm)]
    public void Sampling_is_deterministic_for_a_seed(SamplerKind kind)
    {
        var device = TestModels.Cpu;
        using var model = new CadDenoiser(TestModels.Tiny() with { Seed = 3 });
        model.eval();
        var pipeline = new CadPipeline(model, device);
        var settings = new SamplerSettings(4, kind);
        var a = pipeline.Sample([new SampleRequest(2, 2, 1, 1, 42)], settings)[0];
        var b = pipeline.Sample([new SampleRequest(2, 2, 1, 1, 42)], settings)[0];
        var c = pipeline.Sample([new SampleRequest(2, 2, 1, 1, 43)], settings)[0];
        Assert.True(a.data<float>().ToArray().SequenceEqual(b.data<float>().ToArray()), "same seed gave different images");
        Assert.False(a.data<float>().ToArray().SequenceEqual(c.data<float>().ToArray()), "different seeds gave identical images");
        Assert.True(a.abs().max().item<float>() <= 1.0f);
    }

    [Fact]
    public void Bad_requests_are_rejected_with_reasons()
    {
        var pipeline = new CadPipeline(new ToyDenoiser(TestModels.Tiny()), TestModels.Cpu);
        Assert.Contains("coherence", Assert.Throws<ArgumentException>(() => pipeline.Sample([new SampleRequest(1, 1, 7)], new SamplerSettings(2))).Message);
        Assert.Contains("label", Assert.Throws<ArgumentException>(() => pipeline.Sample([new SampleRequest(10)], new SamplerSettings(2))).Message);
        Assert.Contains("steps", Assert.Throws<ArgumentException>(() => pipeline.Sample([new SampleRequest(1)], new SamplerSettings(0))).Message);
    }
}
