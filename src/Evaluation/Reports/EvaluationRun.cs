using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CadStream.Catalog;
using CadStream.Evaluation.Conditions;
using CadStream.Imaging;
using CadStream.Model;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Runtime;
using static TorchSharp.torch;

namespace CadStream.Evaluation.Reports;

public sealed record EvalSettings
{
    public int N { get; init; } = 10_000;
    public int SweepN { get; init; } = 1_000;
    public int Steps { get; init; } = 50;
    public SamplerKind Sampler { get; init; } = SamplerKind.Ddim;
    public long Seed { get; init; }
    public int Batch { get; init; } = 200;
    public bool Sweeps { get; init; } = true;
    public double[] CoherenceSweep { get; init; } = Enumerable.Range(0, 8).Select(i => i / 7.0).ToArray();
    public double[] GuidanceSweep { get; init; } = [0, 0.5, 1, 2, 3, 5, 7.5];
}

public sealed record SnapshotSummary(string Path, string Mode, long Steps, long SamplesSeen, long Parameters, double DefaultGuidance);

public sealed record EvalResult(
    SnapshotSummary Snapshot, EvalSettings Settings, int RealImages, string Features,
    QualityMetrics Main, QualityMetrics[] CoherenceSweep, QualityMetrics[] GuidanceSweep,
    double Seconds, string Machine);

/// <summary>
/// `cadstream eval` on one snapshot: the metrics at the model's default guidance, the coherence
/// and guidance sweeps, sample grids and plots, written as report.md, report.json and PNGs.
/// </summary>
/// <param name="progress">Where a progress line goes (a console line, say) while images are generated.</param>
/// <param name="requests">
/// How the model is asked for a class (its kind's unit: a text model's held-out prompts, labelled with the class, so
/// accuracy is the prompt accuracy); default the label (<see cref="EvaluationRequests.For"/> without an encoder).
/// </param>
/// <param name="encoderIdentity">The text encoder the snapshot must have learnt from (a text model's); null: none.</param>
public sealed class EvaluationRun(Evaluator evaluator, EvalSettings settings, Device device, Action<string>? progress = null,
    IEvaluationRequests? requests = null, string? encoderIdentity = null)
{
    public const string FeaturesNote = "penultimate (128-d) features of the clean-label Fashion-MNIST CNN; no Inception weights exist here, so FID/precision/recall/density/coverage compare only with each other";

    public EvalResult Run(string snapshotPath, CadSnapshot snapshot, string outDir, string? title = null)
    {
        Directory.CreateDirectory(outDir);
        var clock = Stopwatch.StartNew();
        var ask = requests ?? EvaluationRequests.For(snapshot.Spec);
        using var model = snapshot.CreateDenoiser(device, encoderIdentity);
        var pipeline = new CadPipeline(model, device);
        var sampler = new SamplerSettings(settings.Steps, settings.Sampler);
        var names = snapshot.Spec.Classes;
        double w0 = snapshot.Spec.DefaultGuidance;

        bool sweeps = settings.Sweeps;
        long total = settings.N + (sweeps ? (long)settings.SweepN * (settings.CoherenceSweep.Length + settings.GuidanceSweep.Length) : 0);
        long finished = 0;
        QualityMetrics Measure(string what, int n, double c, double w)
        {
            using var set = Evaluator.Generate(pipeline, n, c, w, sampler, settings.Seed, settings.Batch, done =>
            {
                double elapsed = clock.Elapsed.TotalSeconds, frac = (finished + done) / (double)total;
                progress?.Invoke($"eval {what}: {done}/{n} images  [{Bar(frac)}] {frac:P0}  ETA {Eta.Format(elapsed / Math.Max(frac, 1e-9) - elapsed)}");
            }, (k, take, s, chunk) => ask.For(k, take, c, w, s, chunk));
            finished += n;
            return evaluator.Score(set, c, w);
        }

        var main = Measure($"c=1 w={w0}", settings.N, 1.0, w0);
        var cohSweep = sweeps ? settings.CoherenceSweep.Select(c => Measure($"coherence {c:F2}", settings.SweepN, c, 0)).ToArray() : [];
        var guideSweep = sweeps ? settings.GuidanceSweep.Select(w => Measure($"guidance {w}", settings.SweepN, 1.0, w)).ToArray() : [];
        progress?.Invoke($"eval done in {clock.Elapsed.TotalSeconds:F0} s");

        if (sweeps)
        {
            WriteGrid(pipeline, Path.Combine(outDir, "grid_coherence.png"), settings.CoherenceSweep.Select(c => (c, 0.0)).ToArray(), names.Length, sampler, ask);
            WriteGrid(pipeline, Path.Combine(outDir, "grid_guidance.png"), settings.GuidanceSweep.Select(w => (1.0, w)).ToArray(), names.Length, sampler, ask);
            Plots.CoherenceSweep(cohSweep, Path.Combine(outDir, "sweep_coherence.png"));
            Plots.GuidanceSweep(guideSweep, Path.Combine(outDir, "sweep_guidance.png"));
        }
        var summary = new SnapshotSummary(snapshotPath, snapshot.Spec.Mode.Name(), snapshot.Steps, snapshot.SamplesSeen, model.ParameterCount(), w0);
        var result = new EvalResult(summary, settings, evaluator.RealCount, FeaturesNote, main, cohSweep, guideSweep, clock.Elapsed.TotalSeconds, Machine());
        File.WriteAllText(Path.Combine(outDir, "report.json"), JsonSerializer.Serialize(result, Json));
        File.WriteAllText(Path.Combine(outDir, "report.md"), Markdown(result, names, title));
        return result;
    }

    /// <summary>Rows = (coherence, guidance) settings, columns = classes; the same seed per column across rows.</summary>
    static void WriteGrid(CadPipeline pipeline, string path, (double C, double W)[] rows, int classes, SamplerSettings sampler, IEvaluationRequests ask)
    {
        var jobs = rows.SelectMany(r => Enumerable.Range(0, classes).Select(c => ask.For(c, 1, r.C, r.W, 1000 + c, 0))).ToArray();
        var images = pipeline.Sample(jobs, sampler);
        using var all = cat(images, 0);
        foreach (var t in images) t.Dispose();
        var spec = pipeline.Spec;
        File.WriteAllBytes(path, ImageGrid.EncodePng(ImageTensors.ToBytes(all), (int)all.shape[0], spec.Channels, spec.ImageSize, spec.ImageSize, columns: classes, scale: 2));
    }

    static string Bar(double frac)
    {
        int filled = (int)Math.Round(Math.Clamp(frac, 0, 1) * 20);
        return new string('#', filled) + new string('.', 20 - filled);
    }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    public static string Machine() =>
        $"{Environment.ProcessorCount} CPU cores, {TorchSharpInfo()}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}";

    static string TorchSharpInfo() => TorchRuntime.Describe();

    static string F(double v, string fmt = "F3") => double.IsNaN(v) ? "n/a" : v.ToString(fmt, CultureInfo.InvariantCulture);

    public static string MetricsHeader => "| FID | precision | recall | density | coverage | accuracy |";
    public static string MetricsRow(QualityMetrics m) =>
        $"| {F(m.Fid, "F2")} | {F(m.Precision)} | {F(m.Recall)} | {F(m.Density)} | {F(m.Coverage)} | {F(m.Accuracy)} |";

    /// <summary>One sweep section: table, plot, and the grid whose rows are the sweep's values.</summary>
    static void Sweep(StringBuilder s, string title, string expectation, string name, QualityMetrics[] sweep,
        Func<QualityMetrics, string> value, string columns)
    {
        s.AppendLine();
        s.AppendLine($"## {title}");
        s.AppendLine();
        s.AppendLine(expectation);
        s.AppendLine();
        s.AppendLine($"| {name} " + MetricsHeader);
        s.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var m in sweep) s.AppendLine($"| {value(m)} " + MetricsRow(m));
        s.AppendLine();
        s.AppendLine($"![{name} sweep](sweep_{name}.png)");
        s.AppendLine();
        s.AppendLine($"Rows: {name} " + string.Join(", ", sweep.Select(value)) + $" (top to bottom); {columns}");
        s.AppendLine();
        s.AppendLine($"![{name} grid](grid_{name}.png)");
    }

    static string Markdown(EvalResult r, IReadOnlyList<string> names, string? title)
    {
        var s = new StringBuilder();
        s.AppendLine($"# {title ?? "Evaluation of " + Path.GetFileName(r.Snapshot.Path)}");
        s.AppendLine();
        s.AppendLine($"Snapshot `{r.Snapshot.Path}`: mode {r.Snapshot.Mode}, {r.Snapshot.Steps} steps, {r.Snapshot.SamplesSeen} samples seen, {r.Snapshot.Parameters / 1e6:F2}M parameters.");
        s.AppendLine($"Sampling: {r.Settings.Sampler.Name()} {r.Settings.Steps} steps, seed {r.Settings.Seed}; {r.Main.Count} generated vs {r.RealImages} real test images (sweeps: {r.Settings.SweepN} each).");
        s.AppendLine($"Features: {r.Features}.");
        s.AppendLine($"Machine: {r.Machine}; wall time {r.Seconds:F0} s.");
        s.AppendLine();
        s.AppendLine($"## Metrics at coherence 1, guidance {r.Main.Guidance}");
        s.AppendLine();
        s.AppendLine(MetricsHeader);
        s.AppendLine("|---|---|---|---|---|---|");
        s.AppendLine(MetricsRow(r.Main));
        s.AppendLine();
        s.AppendLine("Accuracy per class:");
        s.AppendLine();
        s.AppendLine("| " + string.Join(" | ", names) + " |");
        s.AppendLine("|" + string.Concat(Enumerable.Repeat("---|", names.Count)));
        s.AppendLine("| " + string.Join(" | ", r.Main.PerClassAccuracy.Select(v => F(v, "F2"))) + " |");
        if (r.CoherenceSweep.Length > 0)
        {
            Sweep(s, "Coherence sweep (guidance 0)", $"Accuracy should fall toward 1/{names.Count} as the prompted coherence goes to 0 (paper, Fig. 5a).",
                "coherence", r.CoherenceSweep, m => F(m.Coherence, "F2"),
                "columns: " + string.Join(", ", names) + "; the same seed in each column.");
            Sweep(s, "Guidance sweep (coherence 1)", "Guidance trades FID for accuracy (paper, Fig. 5b).",
                "guidance", r.GuidanceSweep, m => F(m.Guidance, "G"), "columns: classes as above.");
        }
        return s.ToString();
    }
}
