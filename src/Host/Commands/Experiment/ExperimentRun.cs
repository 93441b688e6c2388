using System.Diagnostics;
using CadStream.Catalog;
using CadStream.Data;
using CadStream.Evaluation;
using CadStream.Evaluation.Conditions;
using CadStream.Evaluation.Reports;
using CadStream.Host.Cli;
using CadStream.Host.Commands.Conditions;
using CadStream.Host.Configuration;
using CadStream.Model;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Model.Training;
using CadStream.Runtime;
using TorchSharp;

namespace CadStream.Host.Commands.Experiment;

/// <summary>
/// Runs an experiment's plan: each model trained (or taken from an earlier run with the same settings,
/// <see cref="RunRecord"/>), evaluated on the one guidance grid, then the comparison written.
/// </summary>
internal sealed class ExperimentRun
{
    private readonly ExperimentPlan plan;
    private readonly torch.Device device;
    private readonly Evaluator evaluator;
    private readonly ICommandCondition condition;
    private readonly CancellationToken cancel;

    private ExperimentRun(ExperimentPlan plan, torch.Device device, Evaluator evaluator, ICommandCondition condition, CancellationToken cancel)
    {
        this.plan = plan;
        this.device = device;
        this.evaluator = evaluator;
        this.condition = condition;
        this.cancel = cancel;
    }

    public static void Run(ExperimentPlan plan, CancellationToken cancel)
    {
        var outDir = plan.OutDir;
        Directory.CreateDirectory(Path.Combine(outDir, "models"));
        var total = Stopwatch.StartNew();

        var device = TorchRuntime.Initialize();
        var classifier = ClassifierFile.LoadOrTrain(plan.Classifier, plan.ClassifierPath);
        var evaluator = new Evaluator(classifier, FashionMnist.Load(train: false), plan.Eval.N);
        var clean = TrainCommand.LoadPairs("none", plan.Seed, plan.TrainLimit, null, 0.5);
        // Text models read each pair's generated caption (naming its noisy label, so a wrong label is a wrong caption).
        using var condition = CommandConditions.For(plan.Kind, textCacheCapacity: 8192);
        var run = new ExperimentRun(plan, device, evaluator, condition, cancel);

        var runs = plan.Runs();
        var rows = new List<Row>();
        double wrong = double.NaN;
        int done = 0;
        foreach (var (name, runSeed) in runs)
        {
            done++;
            // The label noise follows the seed too: a second seed is a second draw of everything.
            var noisy = TrainCommand.LoadPairs(plan.Noise, runSeed, plan.TrainLimit, plan.Noise == "temperature" ? plan.ClassifierPath : null, plan.Beta);
            if (runSeed == plan.Seed) wrong = noisy.Labels.Zip(clean.Labels).Count(p => p.First != p.Second) / (double)noisy.Count;
            rows.AddRange(run.Model(name, runSeed, noisy, $"{done}/{runs.Count}"));
        }

        var summary = new RunSummary(plan.Kind.Name(), plan.Models, plan.SecondSeed.Where(plan.Models.Contains).ToArray(), plan.Grid, plan.Steps, plan.Batch,
            plan.Width, plan.LearningRate, plan.Noise, plan.Seed, clean.Count, wrong,
            plan.Eval, EvaluationRun.FeaturesNote, EvaluationRun.Machine(), total.Elapsed.TotalSeconds, rows);
        ComparisonFiles.Write(summary, outDir);
        Console.Error.WriteLine($"wrote {Path.Combine(outDir, "README.md")} in {total.Elapsed.TotalMinutes:F1} min");
    }

    /// <summary>One model's rows on the grid: kept from an earlier run evaluated the same way, else evaluated now (trained first unless trained before).</summary>
    private IReadOnlyList<Row> Model(string name, int runSeed, PairSet noisy, string progress)
    {
        string tag = plan.Tag(name, runSeed);
        var mode = ExperimentPlan.ModeOf(name);
        var snapshotPath = Path.Combine(plan.OutDir, "models", tag + ".cadsnap");
        var key = plan.KeyOf(name, runSeed);
        var recordPath = Path.Combine(plan.OutDir, "models", tag + ".json");
        var record = RunRecord.Read(recordPath, key);
        if (record?.Rows is { Count: > 0 } kept && File.Exists(snapshotPath))
        {
            Console.Error.WriteLine($"[{progress} {tag}] trained and evaluated before with these settings ({recordPath}): kept");
            return kept;
        }
        CadSnapshot snapshot;
        double trainSeconds;
        double finalLoss;
        if (record is not null && File.Exists(snapshotPath))
        {
            Console.Error.WriteLine($"[{progress} {tag}] trained before with these settings ({snapshotPath}, {record.TrainSeconds:F0} s): evaluating it");
            snapshot = CadSnapshot.Load(snapshotPath);
            trainSeconds = record.TrainSeconds;
            finalLoss = record.FinalLoss;
        }
        else
        {
            (snapshot, trainSeconds, finalLoss) = Train(name, runSeed, mode, noisy, tag, progress);
            snapshot.Save(snapshotPath);
            new RunRecord(key, trainSeconds, finalLoss, null).Write(recordPath);
        }

        // The CAD model's own report (coherence and guidance sweeps, grids) for the first seed.
        var requests = condition.EvaluationRequests(snapshot.Spec);
        if (name == "cad" && runSeed == plan.Seed)
        {
            var reportLine = new ProgressLine();
            new EvaluationRun(evaluator, plan.Eval with { Sweeps = true }, device, line => reportLine.Update($"[{tag}] {line}"), requests, condition.EncoderIdentity)
                .Run(snapshotPath, snapshot, Path.Combine(plan.OutDir, name), $"{name}: mode {mode.Name()} on noisy Fashion-MNIST");
            reportLine.Finish($"[{tag}] report written");
        }
        var modelRows = Evaluate(snapshot, requests, name, mode, runSeed, tag, trainSeconds, finalLoss);
        new RunRecord(key, trainSeconds, finalLoss, modelRows).Write(recordPath);
        return modelRows;
    }

    private (CadSnapshot Snapshot, double TrainSeconds, double FinalLoss) Train(string name, int runSeed, TrainingMode mode, PairSet noisy, string tag, string progress)
    {
        var config = CadStreamSettings.Complete(new ModelSpec
        {
            Id = name, Kind = plan.Kind, Dataset = FashionMnist.DatasetName, Mode = mode, Width = plan.Width, Guidance = 1.0, LearningRate = plan.LearningRate, Seed = runSeed,
        });
        var clock = Stopwatch.StartNew();
        Console.Error.WriteLine($"[{progress} {tag}] training mode {mode.Name()} for {plan.Steps} steps, batch {plan.Batch}, width {plan.Width}");
        using var trainer = new CadTrainer(config, device, condition.EmptyCaption) { TextEncoder = condition.EncoderIdentity };
        var line = new ProgressLine();
        var trainingPairs = condition.TrainingPairs(name == "clean" ? TrainCommand.LoadPairs("none", runSeed, plan.TrainLimit, null, 0.5) : noisy, runSeed,
            plan.TextCache, cancel);
        var final = OfflineTraining.Run(trainer, trainingPairs, plan.Steps, plan.Batch, runSeed,
            p => line.Update($"[{tag}] step {p.Step}/{p.TotalSteps}  loss {p.SmoothedLoss:F4}  {p.ImagesPerSecond:F0} img/s  ETA {Eta.Format(p.EtaSeconds)}"), cancel);
        line.Finish($"[{tag}] trained {trainer.Steps} steps in {clock.Elapsed.TotalSeconds:F0} s, final loss {final.SmoothedLoss:F4}");
        if (cancel.IsCancellationRequested) throw new OperationCanceledException();
        return (trainer.ToSnapshot(1, includeTrainingState: false), clock.Elapsed.TotalSeconds, final.SmoothedLoss);
    }

    /// <summary>Every model on the same guidance grid, same seeds of the starting noise.</summary>
    private List<Row> Evaluate(CadSnapshot snapshot, IEvaluationRequests requests, string name, TrainingMode mode, int runSeed, string tag, double trainSeconds, double finalLoss)
    {
        var eval = plan.Eval;
        using var model = snapshot.CreateDenoiser(device, condition.EncoderIdentity);
        var pipeline = new CadPipeline(model, device);
        var gridLine = new ProgressLine();
        var modelRows = new List<Row>();
        foreach (var w in plan.Grid)
        {
            using var set = Evaluator.Generate(pipeline, eval.N, 1.0, w, new SamplerSettings(eval.Steps), eval.Seed, eval.Batch,
                n => gridLine.Update($"[{tag}] evaluating w = {w}: {n}/{eval.N} images"), (k, take, s, chunk) => requests.For(k, take, 1.0, w, s, chunk));
            var m = evaluator.Score(set, 1.0, w);
            modelRows.Add(new Row(name, mode.Name(), w, m.Fid, m.Accuracy, runSeed, m.Precision, m.Recall, m.Density, m.Coverage, trainSeconds, finalLoss));
        }
        gridLine.Finish($"[{tag}] " + string.Join("; ", modelRows.Select(r => $"w={r.Guidance}: FID {r.Fid:F2}, accuracy {r.Accuracy:F3}")));
        return modelRows;
    }
}
