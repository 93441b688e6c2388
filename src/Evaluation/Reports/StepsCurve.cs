using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CadStream.Evaluation.Conditions;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using ScottPlot;

namespace CadStream.Evaluation.Reports;

/// <summary>One point of a steps curve: a sampler at a number of steps, its quality and its sampling time.</summary>
public sealed record StepsPoint(string Sampler, int Steps, double Fid, double Accuracy, double Seconds, int Images);

/// <summary>The curve and the setting it recommends: the fewest steps whose FID is within the tolerance of the reference's.</summary>
public sealed record StepsCurveResult(StepsPoint[] Points, StepsPoint Reference, StepsPoint Recommended, double Tolerance,
    double Coherence, double Guidance, string Machine);

/// <summary>
/// FID and accuracy against the number of sampling steps for several samplers, on the same fixed-seed
/// images (same starting noise per class at every point), and the fewest steps within a tolerance of a
/// reference setting's FID (DDIM at 50 steps): what a server should default to.
/// </summary>
public static class StepsCurve
{
    public static StepsCurveResult Run(Evaluator evaluator, CadPipeline pipeline, IReadOnlyList<SamplerKind> samplers, IReadOnlyList<int> steps,
        int n, double coherence, double guidance, long seed, int batch, (SamplerKind Kind, int Steps) reference, double tolerance,
        Action<string>? progress = null, IEvaluationRequests? requests = null)
    {
        var ask = requests ?? EvaluationRequests.For(pipeline.Spec);
        var points = new List<StepsPoint>();
        var settings = samplers.SelectMany(k => steps.Select(s => (Kind: k, Steps: s))).ToList();
        if (!settings.Contains(reference)) settings.Add(reference);
        foreach (var (kind, s) in settings)
        {
            var clock = Stopwatch.StartNew();
            using var set = Evaluator.Generate(pipeline, n, coherence, guidance, new SamplerSettings(s, kind), seed, batch,
                done => progress?.Invoke($"steps curve {kind.Name()} {s} steps: {done}/{n} images"), (k, take, sd, chunk) => ask.For(k, take, coherence, guidance, sd, chunk));
            double seconds = clock.Elapsed.TotalSeconds;
            var m = evaluator.Score(set, coherence, guidance);
            points.Add(new StepsPoint(kind.Name(), s, m.Fid, m.Accuracy, seconds, n));
            progress?.Invoke($"steps curve {kind.Name()} {s} steps: FID {m.Fid:F2}, accuracy {m.Accuracy:F3}, {n / seconds:F1} images/s");
        }
        var refPoint = points.Single(p => p.Sampler == reference.Kind.Name() && p.Steps == reference.Steps);
        var recommended = Recommend(points, refPoint.Fid, tolerance) ?? refPoint;
        return new StepsCurveResult(points.ToArray(), refPoint, recommended, tolerance, coherence, guidance, EvaluationRun.Machine());
    }

    /// <summary>The point with the fewest steps whose FID is at most (1 + tolerance) times the reference FID (ties: lower FID); null when none.</summary>
    public static StepsPoint? Recommend(IEnumerable<StepsPoint> points, double referenceFid, double tolerance) =>
        points.Where(p => p.Fid <= referenceFid * (1 + tolerance)).OrderBy(p => p.Steps).ThenBy(p => p.Fid).FirstOrDefault();

    public static void Write(StepsCurveResult r, string outDir)
    {
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "steps_curve.json"), JsonSerializer.Serialize(r, EvaluationRun.Json));
        var b = new StringBuilder();
        string F(double v, string f) => v.ToString(f, CultureInfo.InvariantCulture);
        b.AppendLine("# Quality against sampling steps");
        b.AppendLine();
        b.AppendLine($"c = {r.Coherence:G}, guidance w = {r.Guidance:G}, {r.Points[0].Images} class-balanced images per point, same starting noise at every point. Machine: {r.Machine}.");
        b.AppendLine();
        b.AppendLine("| sampler | steps | FID | accuracy | images/s |");
        b.AppendLine("|---|---|---|---|---|");
        foreach (var p in r.Points.OrderBy(p => p.Sampler).ThenBy(p => p.Steps))
            b.AppendLine($"| {p.Sampler} | {p.Steps} | {F(p.Fid, "F2")} | {F(p.Accuracy, "F3")} | {F(p.Images / p.Seconds, "F1")} |");
        b.AppendLine();
        b.AppendLine($"Reference: {r.Reference.Sampler} at {r.Reference.Steps} steps, FID {F(r.Reference.Fid, "F2")}. " +
                     $"Fewest steps within {r.Tolerance:P0} of its FID: **{r.Recommended.Sampler} at {r.Recommended.Steps} steps** (FID {F(r.Recommended.Fid, "F2")}, " +
                     $"accuracy {F(r.Recommended.Accuracy, "F3")}).");
        b.AppendLine();
        b.AppendLine("![FID against steps](steps_curve.png)");
        File.WriteAllText(Path.Combine(outDir, "steps_curve.md"), b.ToString());

        var plot = new Plot();
        foreach (var g in r.Points.GroupBy(p => p.Sampler))
        {
            var pts = g.OrderBy(p => p.Steps).ToArray();
            var line = plot.Add.Scatter(pts.Select(p => (double)p.Steps).ToArray(), pts.Select(p => p.Fid).ToArray());
            line.LegendText = $"{g.Key} FID";
        }
        var refLine = plot.Add.HorizontalLine(r.Reference.Fid * (1 + r.Tolerance));
        refLine.LinePattern = LinePattern.Dashed;
        refLine.LegendText = $"{r.Reference.Sampler}-{r.Reference.Steps} FID + {r.Tolerance:P0}";
        plot.Axes.Bottom.Label.Text = "sampling steps";
        plot.Axes.Left.Label.Text = "FID (classifier features)";
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(Path.Combine(outDir, "steps_curve.png"), 640, 420);
    }
}
