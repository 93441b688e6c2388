using System.Globalization;
using System.Text;
using CadStream.Catalog;
using CadStream.Data;

namespace CadStream.Host.Commands.Experiment;

/// <summary>The comparison's README: matched guidance, best FID, margins, the whole grid.</summary>
public static class ComparisonReport
{
    static string F(double v, string f = "F3") => double.IsNaN(v) ? "n/a" : v.ToString(f, CultureInfo.InvariantCulture);

    /// <summary>Per model and seed: its row at w = 1 and its row of lowest FID.</summary>
    public static IEnumerable<(string Name, string Mode, int Seed, Row Matched, Row Best)> Summaries(IEnumerable<Row> rows) =>
        rows.GroupBy(r => (r.Name, r.Mode, r.Seed)).Select(g => (g.Key.Name, g.Key.Mode, g.Key.Seed,
            g.Single(r => r.Guidance == 1.0), g.OrderBy(r => r.Fid).First()));

    public static string Markdown(RunSummary s, string outDir)
    {
        var b = new StringBuilder();
        var summaries = Summaries(s.Rows).ToList();
        bool text = ConditionKinds.TryParse(s.Condition, out var kind) && kind == ConditionKind.Text;
        var others = s.Models.Where(m => m != "cad").ToList();
        string against = others.Count <= 1 ? string.Join("", others) : string.Join(", ", others.Take(others.Count - 1)) + " and " + others[^1];
        b.AppendLine($"# {(text ? "Text models: " : "")}CAD against {against} on {(text ? "captioned " : "")}noisy Fashion-MNIST");
        b.AppendLine();
        b.AppendLine($"Same budget for every model: U-Net width {s.Width}, {s.Steps} steps of batch {s.Batch}, AdamW lr {s.LearningRate}, seed {s.Seed}" +
                     (s.SecondSeed.Length > 0 ? $" (and {s.Seed + 1} for {string.Join(", ", s.SecondSeed)})" : "") + ". " +
                     $"Label noise: {s.Noise} protocol on the {s.TrainImages} training images, {s.WrongLabelFraction:P1} of labels wrong" +
                     (s.Models.Contains("clean") ? "; `clean` trains on the true labels (the upper anchor)." : "."));
        b.AppendLine($"Guidance: the models other than cad train with classic classifier-free guidance ({(text ? "the empty caption" : "the null label")} for 10 % of pairs) and are sampled " +
                     "with it; cad trains without dropout and is sampled with coherence-aware guidance (the c = 0 branch). Every model is evaluated on the same " +
                     $"grid w = {string.Join(", ", s.GuidanceGrid)}.");
        b.AppendLine($"Evaluation: {s.Eval.N} generated images per point (class-balanced) against {s.Eval.N} real test images, DDIM {s.Eval.Steps} steps; features: {s.Features}.");
        if (text)
            b.AppendLine("Text: each training image's caption is generated for its noisy label (a wrong label is a wrong caption) and read through the frozen MiniLM; " +
                         "classic modes drop the caption to the empty one for 10 % of pairs. Each class is asked for with its held-out prompts (wordings no training " +
                         "caption used) against the mode's default negative (gibberish for cad, the empty caption otherwise); accuracy is the prompt accuracy, " +
                         "the clean classifier's agreement with the class the prompt names.");
        b.AppendLine($"Machine: {s.Machine}. Wall time of the whole run: {s.Seconds / 60:F1} min.");
        b.AppendLine();
        b.AppendLine("## At matched guidance (w = 1) and at each model's best FID");
        b.AppendLine();
        b.AppendLine("| model | seed | FID at w = 1 | accuracy at w = 1 | best FID (its w) | accuracy there | train time |");
        b.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var x in summaries)
            b.AppendLine($"| {x.Name} | {x.Seed} | {F(x.Matched.Fid, "F2")} | {F(x.Matched.Accuracy)} | {F(x.Best.Fid, "F2")} (w = {x.Best.Guidance:G}) | {F(x.Best.Accuracy)} | {x.Matched.TrainSeconds / 60:F1} min |");
        b.AppendLine();
        var cad = summaries.Where(x => x.Name == "cad").ToList();
        if (cad.Count > 0)
        {
            b.AppendLine("## CAD's margin (mean over the seeds each model ran; FID: lower is better, accuracy: higher)");
            b.AppendLine();
            b.AppendLine("| against | FID at w = 1 | accuracy at w = 1 | best FID | accuracy at best FID |");
            b.AppendLine("|---|---|---|---|---|");
            double Mean(IEnumerable<double> v) => v.Average();
            foreach (var other in summaries.Where(x => x.Name != "cad").GroupBy(x => x.Name))
            {
                string D(double v, string f) => (v >= 0 ? "+" : "") + v.ToString(f, CultureInfo.InvariantCulture);
                b.AppendLine($"| {other.Key} | {D(Mean(cad.Select(c => c.Matched.Fid)) - Mean(other.Select(o => o.Matched.Fid)), "F2")} " +
                             $"| {D(Mean(cad.Select(c => c.Matched.Accuracy)) - Mean(other.Select(o => o.Matched.Accuracy)), "F3")} " +
                             $"| {D(Mean(cad.Select(c => c.Best.Fid)) - Mean(other.Select(o => o.Best.Fid)), "F2")} " +
                             $"| {D(Mean(cad.Select(c => c.Best.Accuracy)) - Mean(other.Select(o => o.Best.Accuracy)), "F3")} |");
            }
            b.AppendLine();
        }
        b.AppendLine("## The whole grid");
        b.AppendLine();
        b.AppendLine("| model | mode | seed | guidance | FID | precision | recall | density | coverage | accuracy |");
        b.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in s.Rows)
            b.AppendLine($"| {r.Name} | {r.Mode} | {r.Seed} | {r.Guidance:G} | {F(r.Fid, "F2")} | {F(r.Precision)} | {F(r.Recall)} | {F(r.Density)} | {F(r.Coverage)} | {F(r.Accuracy)} |");
        b.AppendLine();
        b.AppendLine("![accuracy against FID](comparison.png)");
        b.AppendLine();
        if (s.Models.Contains("cad"))
            b.AppendLine("CAD's own report (per-class accuracy, coherence and guidance sweeps, grids): [cad](cad/report.md).");
        b.AppendLine("`comparison.json` holds every row (`name`, `mode`, `guidance`, `fid`, `accuracy`, `seed`, and the other metrics).");
        b.AppendLine();
        b.AppendLine("Reproduce with:");
        b.AppendLine();
        b.AppendLine("```sh");
        b.AppendLine("dotnet build src/Host -c Release");
        b.AppendLine($"dotnet src/Host/bin/Release/net10.0/cadstream.dll experiment {(text ? "--condition text " : "")}" +
                     $"{(s.TrainImages < FashionMnist.TrainCount ? $"--limit {s.TrainImages} " : "")}--models {string.Join(',', s.Models)} --second-seed \"{string.Join(',', s.SecondSeed)}\" " +
                     $"--guidance {string.Join(',', s.GuidanceGrid.Select(g => g.ToString(CultureInfo.InvariantCulture)))} --steps {s.Steps} --batch {s.Batch} --width {s.Width} " +
                     $"--lr {s.LearningRate.ToString(CultureInfo.InvariantCulture)} --noise {s.Noise} --seed {s.Seed} --n {s.Eval.N} --sweep-n {s.Eval.SweepN} --eval-steps {s.Eval.Steps} --out {outDir}");
        b.AppendLine("```");
        return b.ToString();
    }
}
