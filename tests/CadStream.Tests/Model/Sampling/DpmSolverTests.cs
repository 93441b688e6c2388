using CadStream.Evaluation.Reports;
using CadStream.Model;
using CadStream.Model.Scheduling;
using static TorchSharp.torch;

namespace CadStream.Tests.Model.Sampling;

/// <summary>
/// DPM-Solver++(2M) against closed forms, with no network: its first-order step is DDIM's, and on
/// Gaussian data (whose denoiser and probability-flow solution are known exactly) it converges at
/// second order where DDIM converges at first.
/// </summary>
[Trait("Category", "Numeric")]
public class DpmSolverTests
{
    [Fact]
    public void Its_first_step_is_the_deterministic_ddim_step()
    {
        _ = TestModels.Cpu;
        using var g = new Generator(7, CPU);
        using var xt = randn([4, 1, 3, 3], generator: g);
        using var eps = randn([4, 1, 3, 3], generator: g).Times(0.3);
        double gT = 0.2, gS = 0.5;
        using var x0 = NoiseScheduler.PredictX0(xt, eps, TensorMath.Full(4, gT, ScalarType.Float32)).ClampInPlace(-1, 1);
        using var dpm = NoiseScheduler.DpmSolverPlusPlusStep(xt, x0, null, gT, gS, double.NaN);
        using var ddim = NoiseScheduler.DdimStep(xt, eps, gT, gS, 0, null);
        Assert.True(allclose(dpm, ddim, rtol: 1e-5, atol: 1e-5), $"max difference {(dpm - ddim).abs().max().item<float>()}");
    }

    [Fact]
    public void The_last_step_into_clean_data_returns_the_prediction()
    {
        _ = TestModels.Cpu;
        using var xt = zeros(2, 1, 2, 2).FillInPlace(0.3f);
        using var x0 = zeros(2, 1, 2, 2).FillInPlace(0.7f);
        using var prev = zeros(2, 1, 2, 2).FillInPlace(-0.5f);
        using var last = NoiseScheduler.DpmSolverPlusPlusStep(xt, x0, prev, 0.9, 1.0, 0.4);
        Assert.True(allclose(last, x0));
        Assert.Equal(double.PositiveInfinity, NoiseScheduler.Lambda(1.0));
        Assert.Equal(0.5 * Math.Log(0.25 / 0.75), NoiseScheduler.Lambda(0.25), 12);
    }

    /// <summary>
    /// Data x0 ~ N(0, s^2): E[x0 | x_t] = sqrt(g) s^2 / (g s^2 + 1 - g) x_t, and the probability-flow ODE
    /// keeps x_t / sqrt(g s^2 + 1 - g) constant. Walks from t = 0.95 to t = 0.2 (g = 1 - t).
    /// </summary>
    [Fact]
    public void On_gaussian_data_it_converges_at_second_order_and_ddim_at_first()
    {
        _ = TestModels.Cpu;
        const double s = 0.5, from = 0.95, to = 0.2;
        double Std(double g) => Math.Sqrt(g * s * s + 1 - g);
        double Error(bool dpm, int steps)
        {
            using var scope = NewDisposeScope();
            var x = tensor(new[] { -0.8, -0.3, 0.1, 0.6, 0.9 }, dtype: ScalarType.Float64).reshape(5, 1, 1, 1);
            var start = x.clone();
            Tensor? previous = null;
            double hPrevious = double.NaN;
            for (int i = 0; i < steps; i++)
            {
                double gT = 1 - (from + (to - from) * i / steps), gS = 1 - (from + (to - from) * (i + 1) / steps);
                var x0 = x.Times(Math.Sqrt(gT) * s * s / (gT * s * s + 1 - gT));
                if (dpm)
                {
                    x = NoiseScheduler.DpmSolverPlusPlusStep(x, x0, previous, gT, gS, hPrevious);
                    previous = x0;
                    hPrevious = NoiseScheduler.Lambda(gS) - NoiseScheduler.Lambda(gT);
                }
                else
                {
                    var eps = NoiseScheduler.PredictEps(x, x0, TensorMath.Full(5, gT, ScalarType.Float64));
                    x = NoiseScheduler.DdimStep(x, eps, gT, gS, 0, null);
                }
            }
            var exact = start.Times(Std(1 - to) / Std(1 - from));
            return (x - exact).abs().max().item<double>();
        }

        double dpm10 = Error(true, 10), dpm20 = Error(true, 20), ddim10 = Error(false, 10), ddim20 = Error(false, 20);
        Assert.True(dpm10 < ddim10 / 3, $"dpm++ at 10 steps {dpm10:E3} vs ddim {ddim10:E3}");
        Assert.InRange(ddim10 / ddim20, 1.6, 2.6);   // first order: halving the step halves the error
        Assert.InRange(dpm10 / dpm20, 3.0, 6.0);     // second order: a quarter
    }

    [Theory]
    [InlineData("dpm++", SamplerKind.DpmPlusPlus)]
    [InlineData("DPMPP", SamplerKind.DpmPlusPlus)]
    [InlineData("ddim", SamplerKind.Ddim)]
    public void Sampler_names_parse_and_print(string name, SamplerKind kind)
    {
        Assert.Equal(kind, SamplerKinds.Parse(name));
        Assert.Equal(kind, SamplerKinds.Parse(kind.Name()));
        var e = Assert.Throws<ArgumentException>(() => SamplerKinds.Parse("euler"));
        Assert.Contains("dpm++", e.Message);
    }

    [Fact]
    public void Reports_write_the_sampler_by_its_name_and_still_read_the_old_numbers()
    {
        var json = System.Text.Json.JsonSerializer.Serialize(new EvalSettings { Sampler = SamplerKind.DpmPlusPlus }, EvaluationRun.Json);
        Assert.Equal("dpm++", System.Text.Json.JsonDocument.Parse(json).RootElement.GetProperty("sampler").GetString());
        Assert.Equal(SamplerKind.DpmPlusPlus, System.Text.Json.JsonSerializer.Deserialize<EvalSettings>(json, EvaluationRun.Json)!.Sampler);
        // docs/results/*/report.json of earlier runs hold "sampler": 0.
        Assert.Equal(SamplerKind.Ddim, System.Text.Json.JsonSerializer.Deserialize<EvalSettings>("""{"sampler": 0}""", EvaluationRun.Json)!.Sampler);
        Assert.Throws<System.Text.Json.JsonException>(() => System.Text.Json.JsonSerializer.Deserialize<EvalSettings>("""{"sampler": "euler"}""", EvaluationRun.Json));
    }
}
