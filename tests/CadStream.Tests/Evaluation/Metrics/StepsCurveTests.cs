using CadStream.Evaluation.Reports;

namespace CadStream.Tests.Evaluation.Metrics;

public class StepsCurveTests
{
    static StepsPoint P(string sampler, int steps, double fid) => new(sampler, steps, fid, 0.5, 1, 100);

    [Fact]
    public void The_recommendation_is_the_fewest_steps_within_the_tolerance_of_the_reference()
    {
        var points = new[] { P("ddim", 50, 40), P("ddim", 20, 43), P("dpm++", 10, 41.9), P("dpm++", 5, 60), P("dpm++", 15, 40.5), P("ddim", 10, 50) };
        var r = StepsCurve.Recommend(points, 40, 0.05)!;
        Assert.Equal(("dpm++", 10), (r.Sampler, r.Steps));
        // A tighter tolerance moves it to the next point that qualifies.
        Assert.Equal(15, StepsCurve.Recommend(points, 40, 0.02)!.Steps);
        // At equal steps the lower FID wins; nothing within the tolerance gives null.
        Assert.Equal("dpm++", StepsCurve.Recommend([P("ddim", 10, 41), P("dpm++", 10, 40.5)], 40, 0.05)!.Sampler);
        Assert.Null(StepsCurve.Recommend([P("ddim", 10, 50)], 40, 0.05));
    }
}
