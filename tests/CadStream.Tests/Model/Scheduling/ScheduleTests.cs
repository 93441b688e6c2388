using CadStream.Model.Scheduling;
using static TorchSharp.torch;

namespace CadStream.Tests.Model.Scheduling;

[Trait("Category", "Numeric")]
public class ScheduleTests
{
    static double Sig(double x) => 1 / (1 + Math.Exp(-x));

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.1)]
    [InlineData(0.37)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void Sigmoid_matches_closed_form(double t)
    {
        double expected = (Sig(3 / 0.9) - Sig((t * 6 - 3) / 0.9)) / (Sig(3 / 0.9) - Sig(-3 / 0.9));
        Assert.Equal(Math.Max(expected, 1e-9), new SigmoidSchedule().Gamma(t), 12);
    }

    [Fact]
    public void Sigmoid_endpoints_and_symmetry()
    {
        var s = new SigmoidSchedule();
        Assert.Equal(1.0, s.Gamma(0), 12);
        Assert.Equal(1e-9, s.Gamma(1), 15);   // clipped: pure noise
        Assert.Equal(0.5, s.Gamma(0.5), 12);  // start = -end makes the curve point-symmetric
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.25)]
    [InlineData(0.5)]
    [InlineData(0.8)]
    public void Cosine_matches_closed_form(double t)
    {
        double c = Math.Cos((t + 2e-4) / (1 + 2.5e-4) * Math.PI / 2);
        Assert.Equal(c * c, new CosineSchedule().Gamma(t), 12);
    }

    [Fact]
    public void Linear_is_one_minus_t_clipped()
    {
        var s = new LinearSchedule();
        Assert.Equal(0.75, s.Gamma(0.25), 15);
        Assert.Equal(1e-9, s.Gamma(1.0), 15);
    }

    [Theory]
    [InlineData("sigmoid")]
    [InlineData("cosine")]
    [InlineData("linear")]
    public void Tensor_form_equals_scalar_form_and_decreases(string name)
    {
        _ = TestModels.Cpu;
        var s = NoiseSchedule.Parse(name);
        var ts = Enumerable.Range(0, 101).Select(i => i / 100.0).ToArray();
        using var t = tensor(ts, dtype: ScalarType.Float64);
        using var g = s.Gamma(t);
        var values = g.data<double>().ToArray();
        for (int i = 0; i < ts.Length; i++) Assert.Equal(s.Gamma(ts[i]), values[i], 9);
        for (int i = 1; i < ts.Length; i++) Assert.True(values[i] <= values[i - 1], $"{name} increases at t={ts[i]}");
    }

    [Fact]
    public void Unknown_schedule_is_a_clear_error()
    {
        var e = Assert.Throws<ArgumentException>(() => NoiseSchedule.Parse("quadratic"));
        Assert.Contains("sigmoid", e.Message);
    }
}
