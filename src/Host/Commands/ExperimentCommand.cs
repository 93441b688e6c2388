using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CadStream.Catalog;
using CadStream.Data;
using CadStream.Evaluation;
using CadStream.Evaluation.Reports;
using CadStream.Host.Cli;
using CadStream.Host.Commands.Conditions;
using CadStream.Host.Configuration;
using CadStream.Model;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Model.Training;
using CadStream.Runtime;

namespace CadStream.Host.Commands;

/// <summary>
/// `cadstream experiment`: the paper's comparison on noisy Fashion-MNIST, made fair. Five models on the
/// same noised data and budget (architecture, steps, batch, seeds): clean (classic CFG on true labels,
/// the upper anchor), baseline, filtered, weighted (each with classic CFG: the null label for 10 % of
/// pairs, guided against it) and cad (CA-CFG). Every model is evaluated on the same guidance grid; the
/// table shows each at matched guidance (w = 1) and at its own best FID, and a second seed of the models
/// named by --second-seed shows the spread.
/// </summary>
public sealed class ExperimentCommand : ICommand
{
    public string Name => "experiment";
    public string Summary => "Train clean, baseline, filtered, weighted and cad models on the same entropy-noised Fashion-MNIST with the same budget, evaluate each on one guidance grid, write the comparison.";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("condition", $"{ConditionKinds.Vocabulary} (aliases label, caption): class models, or text models on generated captions naming the noisy labels (prompt accuracy on held-out prompts)", "class", ValueName: "KIND"),
        new("text-cache", "folder for the captions' token states (--condition text)", "data/text-cache", ValueName: "DIR"),
        new("models", "comma list of clean, baseline, filtered, weighted, cad", "clean,baseline,filtered,weighted,cad", ValueName: "LIST"),
        new("steps", "training steps per model", "1500", ValueName: "N"),
        new("batch", "batch size", "64", ValueName: "B"),
        new("width", "U-Net base channels", "32", ValueName: "C"),
        new("lr", "peak learning rate", "0.001", ValueName: "LR"),
        new("noise", "label noise of the noisy models: entropy | temperature", "entropy", ValueName: "KIND"),
        new("beta", "temperature of the temperature protocol", "0.5", ValueName: "B"),
        new("seed", "seed of noise, batches, weights and sampling", "0", ValueName: "S"),
        new("second-seed", "models also trained and evaluated with seed + 1 (comma list; empty: none)", "cad,baseline", ValueName: "LIST"),
        new("guidance", "the guidance grid every model is evaluated on (must hold 1)", "0,1,2,3", ValueName: "LIST"),
        new("classifier", "clean-label classifier (default: OUT/classifier.bin, trained when missing)", ValueName: "FILE"),
        new("limit", "train on the first N training images only (0 = all 60000)", "0", ValueName: "N"),
        new("n", "generated and real images per grid point", "1000", ValueName: "N"),
        new("sweep-n", "images per sweep point (the first cad model only)", "500", ValueName: "N"),
        new("eval-steps", "DDIM steps when sampling", "25", ValueName: "N"),
        new("out", "results folder", "docs/results/cpu", ValueName: "DIR"),
        new("report-only", "write README.md and comparison.png again from OUT/comparison.json, training and evaluating nothing", IsFlag: true),
    ];

    static readonly string[] Known = ["clean", "baseline", "filtered", "weighted", "cad"];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        if (a.Flag("report-only")) return WriteReport(a.RequireString("out"));
        var models = List(a.RequireString("models"), "--models");
        var twice = List(a.RequireString("second-seed"), "--second-seed");
        var grid = a.RequireString("guidance").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var w) && w >= 0 && w <= 100 ? w
                : throw new UsageException($"--guidance: '{v}' is not a guidance rate in [0, 100]")).Distinct().Order().ToArray();
        if (!grid.Contains(1.0)) throw new UsageException("--guidance must hold 1 (the matched guidance of the table)");
        long steps = a.Long("steps", 1, 10_000_000);
        int batch = a.Int("batch", 1, 65536);
        int width = a.Int("width", 8, 1024);
        double lr = a.Double("lr", 0, 1);
        var noise = a.RequireString("noise");
        if (noise is not ("entropy" or "temperature")) throw new UsageException($"--noise must be entropy or temperature (got '{noise}')");
        int seed = a.Int("seed");
        var outDir = a.RequireString("out");
        var kind = a.Condition();
        var evalSettings = new EvalSettings { N = a.Int("n", 10, 1_000_000), SweepN = a.Int("sweep-n", 10, 1_000_000), Steps = a.Int("eval-steps", 1, 1000), Seed = seed };
        Directory.CreateDirectory(Path.Combine(outDir, "models"));
        var total = Stopwatch.StartNew();

        var device = TorchRuntime.Initialize();
        string classifierPath = a.String("classifier") ?? Path.Combine(outDir, "classifier.bin");
        var classifier = ClassifierFile.LoadOrTrain(a.String("classifier"), classifierPath);
        var evaluator = new Evaluator(classifier, FashionMnist.Load(train: false), evalSettings.N);
        double beta = a.Double("beta", 1e-6, 1e6);
        int limitArg = a.Int("limit", 0);
        int? limit = limitArg > 0 ? limitArg : null;
        var clean = TrainCommand.LoadPairs("none", seed, limit, null, 0.5);
        // Text models read each pair's generated caption (naming its noisy label, so a wrong label is a wrong caption).
        using var condition = CommandConditions.For(kind, textCacheCapacity: 8192);

        var runs = models.Select(m => (Name: m, Seed: seed)).Concat(models.Where(twice.Contains).Select(m => (Name: m, Seed: seed + 1))).ToList();
        var rows = new List<Row>();
        var trained = new List<Trained>();
        double wrong = double.NaN;
        int done = 0;
        foreach (var (name, runSeed) in runs)
        {
            done++;
            string tag = runSeed == seed ? name : $"{name}-seed{runSeed}";
            // The label noise follows the seed too: a second seed is a second draw of everything.
            var noisy = TrainCommand.LoadPairs(noise, runSeed, limit, noise == "temperature" ? classifierPath : null, beta);
            if (runSeed == seed) wrong = noisy.Labels.Zip(clean.Labels).Count(p => p.First != p.Second) / (double)noisy.Count;
            var mode = name == "clean" ? TrainingMode.Cfg : TrainingModes.Parse(name);
            var snapshotPath = Path.Combine(outDir, "models", tag + ".cadsnap");
            // A run of hours is resumable: a model whose snapshot and record match these settings is not
            // trained again, and one already evaluated on this grid keeps its rows.
            var key = new RunKey(kind.Name(), limitArg, mode.Name(), steps, batch, width, lr, noise, beta, runSeed, grid, evalSettings.N, evalSettings.Steps);
            var recordPath = Path.Combine(outDir, "models", tag + ".json");
            var record = RunRecord.Read(recordPath, key);
            if (record?.Rows is { Count: > 0 } kept && File.Exists(snapshotPath))
            {
                Console.Error.WriteLine($"[{done}/{runs.Count} {tag}] trained and evaluated before with these settings ({recordPath}): kept");
                rows.AddRange(kept);
                trained.Add(new Trained(name, runSeed, record.TrainSeconds));
                continue;
            }
            CadSnapshot snapshot;
            double trainSeconds;
            double finalLoss;
            bool reused = record is not null && File.Exists(snapshotPath);
            if (reused)
            {
                Console.Error.WriteLine($"[{done}/{runs.Count} {tag}] trained before with these settings ({snapshotPath}, {record!.TrainSeconds:F0} s): evaluating it");
                snapshot = CadSnapshot.Load(snapshotPath);
                trainSeconds = record.TrainSeconds;
                finalLoss = record.FinalLoss;
            }
            else
            {
                var config = CadStreamSettings.Complete(new ModelSpec
                {
                    Id = name, Kind = kind, Dataset = FashionMnist.DatasetName, Mode = mode, Width = width, Guidance = 1.0, LearningRate = lr, Seed = runSeed,
                });
                var clock = Stopwatch.StartNew();
                Console.Error.WriteLine($"[{done}/{runs.Count} {tag}] training mode {mode.Name()} for {steps} steps, batch {batch}, width {width}");
                using var trainer = new CadTrainer(config, device, condition.EmptyCaption) { TextEncoder = condition.EncoderIdentity };
                var line = new ProgressLine();
                var trainingPairs = condition.TrainingPairs(name == "clean" ? TrainCommand.LoadPairs("none", runSeed, limit, null, 0.5) : noisy, runSeed,
                    a.RequireString("text-cache"), cancel);
                var final = OfflineTraining.Run(trainer, trainingPairs, steps, batch, runSeed,
                    p => line.Update($"[{tag}] step {p.Step}/{p.TotalSteps}  loss {p.SmoothedLoss:F4}  {p.ImagesPerSecond:F0} img/s  ETA {Eta.Format(p.EtaSeconds)}"), cancel);
                line.Finish($"[{tag}] trained {trainer.Steps} steps in {clock.Elapsed.TotalSeconds:F0} s, final loss {final.SmoothedLoss:F4}");
                if (cancel.IsCancellationRequested) throw new OperationCanceledException();
                trainSeconds = clock.Elapsed.TotalSeconds;
                finalLoss = final.SmoothedLoss;
                snapshot = trainer.ToSnapshot(1, includeTrainingState: false);
                snapshot.Save(snapshotPath);
                new RunRecord(key, trainSeconds, finalLoss, null).Write(recordPath);
            }

            // The CAD model's own report (coherence and guidance sweeps, grids) for the first seed.
            var requests = condition.EvaluationRequests(snapshot.Spec);
            if (name == "cad" && runSeed == seed)
            {
                var reportLine = new ProgressLine();
                new EvaluationRun(evaluator, evalSettings with { Sweeps = true }, device, line => reportLine.Update($"[{tag}] {line}"), requests, condition.EncoderIdentity)
                    .Run(snapshotPath, snapshot, Path.Combine(outDir, name), $"{name}: mode {mode.Name()} on noisy Fashion-MNIST");
                reportLine.Finish($"[{tag}] report written");
            }
            // Every model on the same guidance grid, same seeds of the starting noise.
            using var model = snapshot.CreateDenoiser(device, condition.EncoderIdentity);
            var pipeline = new CadPipeline(model, device);
            var gridLine = new ProgressLine();
            var modelRows = new List<Row>();
            foreach (var w in grid)
            {
                using var set = Evaluator.Generate(pipeline, evalSettings.N, 1.0, w, new SamplerSettings(evalSettings.Steps), evalSettings.Seed, evalSettings.Batch,
                    n => gridLine.Update($"[{tag}] evaluating w = {w}: {n}/{evalSettings.N} images"), (k, take, s, chunk) => requests.For(k, take, 1.0, w, s, chunk));
                var m = evaluator.Score(set, 1.0, w);
                modelRows.Add(new Row(name, mode.Name(), w, m.Fid, m.Accuracy, runSeed, m.Precision, m.Recall, m.Density, m.Coverage, trainSeconds, finalLoss));
            }
            rows.AddRange(modelRows);
            new RunRecord(key, trainSeconds, finalLoss, modelRows).Write(recordPath);
            gridLine.Finish($"[{tag}] " + string.Join("; ", modelRows.Select(r => $"w={r.Guidance}: FID {r.Fid:F2}, accuracy {r.Accuracy:F3}")));
            trained.Add(new Trained(name, runSeed, trainSeconds));
        }

        var summary = new RunSummary(kind.Name(), models, twice.Where(models.Contains).ToArray(), grid, steps, batch, width, lr, noise, seed, clean.Count, wrong,
            evalSettings, EvaluationRun.FeaturesNote, EvaluationRun.Machine(), total.Elapsed.TotalSeconds, rows);
        File.WriteAllText(Path.Combine(outDir, "comparison.json"), JsonSerializer.Serialize(summary, EvaluationRun.Json));
        WriteFigures(summary, outDir);
        Console.Error.WriteLine($"wrote {Path.Combine(outDir, "README.md")} in {total.Elapsed.TotalMinutes:F1} min");
        return 0;
    }

    static int WriteReport(string outDir)
    {
        var path = Path.Combine(outDir, "comparison.json");
        if (!File.Exists(path)) throw new UsageException($"--report-only: '{path}' does not exist (run the experiment first)");
        var summary = JsonSerializer.Deserialize<RunSummary>(File.ReadAllText(path), EvaluationRun.Json)
                      ?? throw new UsageException($"--report-only: '{path}' holds no comparison");
        WriteFigures(summary, outDir);
        Console.Error.WriteLine($"wrote {Path.Combine(outDir, "README.md")} from {path}");
        return 0;
    }

    static void WriteFigures(RunSummary summary, string outDir)
    {
        var rows = summary.Rows;
        var evalSettings = summary.Eval;
        int seed = summary.Seed;
        Plots.ModeComparison(rows.Where(r => r.Seed == seed).Select(r => ($"{r.Name} (w={r.Guidance})",
            new QualityMetrics(evalSettings.N, 1.0, r.Guidance, r.Fid, r.Precision, r.Recall, r.Density, r.Coverage, r.Accuracy, []))).ToList(),
            Path.Combine(outDir, "comparison.png"));
        File.WriteAllText(Path.Combine(outDir, "README.md"), ComparisonReport.Markdown(summary, outDir));
    }

    static string[] List(string value, string option)
    {
        var list = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var m in list)
            if (!Known.Contains(m)) throw new UsageException($"{option}: unknown model '{m}'; expected {string.Join(", ", Known)}");
        return list;
    }

    sealed record Trained(string Name, int Seed, double Seconds);

    /// <summary>What makes two runs of one model the same run.</summary>
    sealed record RunKey(string? Condition, int Limit, string Mode, long Steps, int Batch, int Width, double LearningRate, string Noise, double Beta, int Seed,
        double[] Grid, int EvalN, int EvalSteps)
    {
        public bool Matches(RunKey o) => KindOf(Condition) == KindOf(o.Condition) && Limit == o.Limit && Mode == o.Mode && Steps == o.Steps && Batch == o.Batch && Width == o.Width && LearningRate == o.LearningRate
            && Noise == o.Noise && Beta == o.Beta && Seed == o.Seed;
        /// <summary>A record's condition: a kind's name, or "label" as records before the one vocabulary wrote it (none: class).</summary>
        static ConditionKind KindOf(string? condition) => condition is null ? ConditionKind.Class : ConditionKinds.Parse(condition);
        public bool SameEvaluation(RunKey o) => Grid.SequenceEqual(o.Grid) && EvalN == o.EvalN && EvalSteps == o.EvalSteps;
    }

    /// <summary>A model's training record next to its snapshot; its rows once evaluated.</summary>
    sealed record RunRecord(RunKey Key, double TrainSeconds, double FinalLoss, List<Row>? Rows)
    {
        /// <summary>The record when it was made with the same training settings; its rows only when also evaluated the same way.</summary>
        public static RunRecord? Read(string path, RunKey key)
        {
            if (!File.Exists(path)) return null;
            RunRecord? r;
            try { r = JsonSerializer.Deserialize<RunRecord>(File.ReadAllText(path)); }
            catch (JsonException) { return null; }
            if (r is null || !r.Key.Matches(key)) return null;
            return r.Key.SameEvaluation(key) ? r : r with { Rows = null };
        }

        public void Write(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true }));
    }
}

/// <summary>One evaluated point of the comparison: a model (name, mode, seed) at one guidance rate.</summary>
public sealed record Row(string Name, string Mode, double Guidance, double Fid, double Accuracy, int Seed,
    double Precision, double Recall, double Density, double Coverage, double TrainSeconds, double FinalLoss);

public sealed record RunSummary(string Condition, string[] Models, string[] SecondSeed, double[] GuidanceGrid, long Steps, int Batch, int Width, double LearningRate,
    string Noise, int Seed, int TrainImages, double WrongLabelFraction, EvalSettings Eval, string Features, string Machine, double Seconds, List<Row> Rows);

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
