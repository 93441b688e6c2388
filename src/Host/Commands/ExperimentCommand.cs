using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CadStream.Data;
using CadStream.Evaluation;
using CadStream.Evaluation.Reports;
using CadStream.Host.Cli;
using CadStream.Host.Configuration;
using CadStream.Model;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Model.Training;
using CadStream.Runtime;

namespace CadStream.Host.Commands;

/// <summary>
/// `cadstream experiment`: the paper's comparison on noisy Fashion-MNIST. Five models on the same
/// noised data and budget (architecture, steps, batch, seeds): clean (cfg on true labels, the
/// upper anchor), baseline, filtered, weighted, cad; each evaluated; one comparison table.
/// </summary>
public sealed class ExperimentCommand : ICommand
{
    public string Name => "experiment";
    public string Summary => "Train clean, baseline, filtered, weighted and cad models on the same entropy-noised Fashion-MNIST with the same budget, evaluate each, write the comparison.";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("models", "comma list of clean, baseline, filtered, weighted, cad", "clean,baseline,filtered,weighted,cad", ValueName: "LIST"),
        new("steps", "training steps per model", "1500", ValueName: "N"),
        new("batch", "batch size", "64", ValueName: "B"),
        new("width", "U-Net base channels", "32", ValueName: "C"),
        new("lr", "peak learning rate", "0.001", ValueName: "LR"),
        new("noise", "label noise of the noisy models: entropy | temperature", "entropy", ValueName: "KIND"),
        new("beta", "temperature of the temperature protocol", "0.5", ValueName: "B"),
        new("seed", "seed of noise, batches, weights and sampling", "0", ValueName: "S"),
        new("classifier", "clean-label classifier (default: OUT/classifier.bin, trained when missing)", ValueName: "FILE"),
        new("n", "generated and real images per model for the table", "1000", ValueName: "N"),
        new("sweep-n", "images per sweep point (cad model only)", "500", ValueName: "N"),
        new("eval-steps", "DDIM steps when sampling", "25", ValueName: "N"),
        new("out", "results folder", "docs/results/cpu", ValueName: "DIR"),
    ];

    static readonly string[] Known = ["clean", "baseline", "filtered", "weighted", "cad"];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        var models = a.RequireString("models").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var m in models)
            if (!Known.Contains(m)) throw new UsageException($"--models: unknown model '{m}'; expected {string.Join(", ", Known)}");
        long steps = a.Long("steps", 1, 10_000_000);
        int batch = a.Int("batch", 1, 65536);
        int width = a.Int("width", 8, 1024);
        double lr = a.Double("lr", 0, 1);
        var noise = a.RequireString("noise");
        if (noise is not ("entropy" or "temperature")) throw new UsageException($"--noise must be entropy or temperature (got '{noise}')");
        int seed = a.Int("seed");
        var outDir = a.RequireString("out");
        var evalSettings = new EvalSettings { N = a.Int("n", 10, 1_000_000), SweepN = a.Int("sweep-n", 10, 1_000_000), Steps = a.Int("eval-steps", 1, 1000), Seed = seed };
        Directory.CreateDirectory(outDir);
        var total = Stopwatch.StartNew();

        var device = TorchRuntime.Initialize();
        string classifierPath = a.String("classifier") ?? Path.Combine(outDir, "classifier.bin");
        var classifier = ClassifierFile.LoadOrTrain(a.String("classifier"), classifierPath);
        var evaluator = new Evaluator(classifier, FashionMnist.Load(train: false), evalSettings.N);
        var noisy = TrainCommand.LoadPairs(noise, seed, null, noise == "temperature" ? classifierPath : null, a.Double("beta", 1e-6, 1e6));
        var clean = TrainCommand.LoadPairs("none", seed, null, null, 0.5);
        double wrong = noisy.Labels.Zip(clean.Labels).Count(p => p.First != p.Second) / (double)noisy.Count;

        var rows = new List<Row>();
        foreach (var name in models)
        {
            var mode = name == "clean" ? TrainingMode.Cfg : TrainingModes.Parse(name);
            var config = CadStreamSettings.Complete(new ModelSpec
            {
                Id = name, Dataset = FashionMnist.DatasetName, Mode = mode, Width = width, Guidance = 1.0, LearningRate = lr, Seed = seed,
            });
            var clock = Stopwatch.StartNew();
            Console.Error.WriteLine($"[{name}] training mode {mode.Name()} for {steps} steps, batch {batch}, width {width}");
            using var trainer = new CadTrainer(config, device);
            var line = new ProgressLine();
            var final = OfflineTraining.Run(trainer, name == "clean" ? clean : noisy, steps, batch, seed,
                p => line.Update($"[{name}] step {p.Step}/{p.TotalSteps}  loss {p.SmoothedLoss:F4}  {p.ImagesPerSecond:F0} img/s  ETA {ProgressLine.Eta(p.EtaSeconds)}"), cancel);
            line.Finish($"[{name}] trained {trainer.Steps} steps in {clock.Elapsed.TotalSeconds:F0} s, final loss {final.SmoothedLoss:F4}");
            if (cancel.IsCancellationRequested) throw new OperationCanceledException();
            double trainSeconds = clock.Elapsed.TotalSeconds;
            var snapshotPath = Path.Combine(outDir, "models", name + ".cadsnap");
            var snapshot = trainer.ToSnapshot(1, includeTrainingState: false);
            snapshot.Save(snapshotPath);

            var settings = evalSettings with { Sweeps = name == "cad" };
            var evalLine = new ProgressLine();
            var run = new EvaluationRun(evaluator, settings, device, text => evalLine.Update(text));
            var result = run.Run(snapshotPath, snapshot, Path.Combine(outDir, name), $"{name}: mode {mode.Name()} on noisy Fashion-MNIST");
            evalLine.Finish($"[{name}] evaluated");
            var extra = new List<QualityMetrics> { result.Main };
            if (config.DefaultGuidance != 0)
            {
                // The same model without guidance, to separate what guidance adds.
                using var model = snapshot.CreateDenoiser(device);
                using var set = Evaluator.Generate(new CadPipeline(model, device), settings.N, 1.0, 0.0, new SamplerSettings(settings.Steps), seed, settings.Batch);
                extra.Insert(0, evaluator.Score(set, 1.0, 0.0));
            }
            rows.AddRange(extra.Select(m => new Row(name, mode.Name(), m, trainSeconds, trainer.SkippedSteps, final.SmoothedLoss)));
            Console.Error.WriteLine($"[{name}] " + string.Join("; ", extra.Select(m => $"w={m.Guidance}: FID {m.Fid:F2}, accuracy {m.Accuracy:F3}")));
        }

        var summary = new RunSummary(models, steps, batch, width, lr, noise, seed, noisy.Count, wrong, evalSettings, EvaluationRun.FeaturesNote,
            EvaluationRun.Machine(), total.Elapsed.TotalSeconds, rows);
        File.WriteAllText(Path.Combine(outDir, "comparison.json"), JsonSerializer.Serialize(summary, EvaluationRun.Json));
        Plots.ModeComparison(rows.Select(r => ($"{r.Name} (w={r.Metrics.Guidance})", r.Metrics)).ToList(), Path.Combine(outDir, "comparison.png"));
        File.WriteAllText(Path.Combine(outDir, "README.md"), Markdown(summary, a));
        Console.Error.WriteLine($"wrote {Path.Combine(outDir, "README.md")} in {total.Elapsed.TotalMinutes:F1} min");
        return 0;
    }

    sealed record Row(string Name, string Mode, QualityMetrics Metrics, double TrainSeconds, long SkippedSteps, double FinalLoss);

    sealed record RunSummary(string[] Models, long Steps, int Batch, int Width, double LearningRate, string Noise, int Seed,
        int TrainImages, double WrongLabelFraction, EvalSettings Eval, string Features, string Machine, double Seconds, List<Row> Rows);

    static string Markdown(RunSummary s, ParsedArgs a)
    {
        string F(double v, string f = "F3") => double.IsNaN(v) ? "n/a" : v.ToString(f, CultureInfo.InvariantCulture);
        var b = new StringBuilder();
        b.AppendLine("# CAD against baseline, filtered, weighted and clean on noisy Fashion-MNIST");
        b.AppendLine();
        b.AppendLine($"Same budget for every model: U-Net width {s.Width}, {s.Steps} steps of batch {s.Batch}, AdamW lr {s.LearningRate}, seed {s.Seed}. " +
                     $"Label noise: {s.Noise} protocol on the {s.TrainImages} training images, {s.WrongLabelFraction:P1} of labels wrong; `clean` trains on the true labels (mode cfg, the upper anchor).");
        b.AppendLine($"Evaluation: {s.Eval.N} generated images per row (class-balanced) against {s.Eval.N} real test images, DDIM {s.Eval.Steps} steps; features: {s.Features}.");
        b.AppendLine($"Machine: {s.Machine}. Wall time of the whole run: {s.Seconds / 60:F1} min.");
        b.AppendLine();
        b.AppendLine("| model | mode | guidance " + EvaluationRun.MetricsHeader + " train time |");
        b.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in s.Rows)
            b.AppendLine($"| {r.Name} | {r.Mode} | {F(r.Metrics.Guidance, "G")} " + EvaluationRun.MetricsRow(r.Metrics) + $" {r.TrainSeconds / 60:F1} min |");
        b.AppendLine();
        b.AppendLine("![accuracy against FID](comparison.png)");
        b.AppendLine();
        b.AppendLine("Each model's own report (per-class accuracy; for `cad` the coherence and guidance sweeps and grids) is in its folder: " +
                     string.Join(", ", s.Models.Select(m => $"[{m}]({m}/report.md)")) + ".");
        b.AppendLine();
        b.AppendLine("Reproduce with:");
        b.AppendLine();
        b.AppendLine("```sh");
        b.AppendLine("dotnet build src/Host -c Release");
        b.AppendLine($"dotnet src/Host/bin/Release/net10.0/cadstream.dll experiment --models {string.Join(',', s.Models)} --steps {s.Steps} --batch {s.Batch} --width {s.Width} --lr {s.LearningRate.ToString(CultureInfo.InvariantCulture)} --noise {s.Noise} --seed {s.Seed} --n {s.Eval.N} --sweep-n {s.Eval.SweepN} --eval-steps {s.Eval.Steps} --out {a.RequireString("out")}");
        b.AppendLine("```");
        return b.ToString();
    }
}
