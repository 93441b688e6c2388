using CadStream.Data;
using CadStream.Evaluation;
using CadStream.Evaluation.Reports;
using CadStream.Host.Cli;
using CadStream.Host.Commands.Conditions;
using CadStream.Model;
using CadStream.Model.Scheduling;
using CadStream.Runtime;

namespace CadStream.Host.Commands;

/// <summary>`cadstream eval`: quality metrics, coherence and guidance sweeps, grids and plots of one snapshot.</summary>
public sealed class EvalCommand : ICommand
{
    public string Name => "eval";
    public string Summary => "Evaluate a snapshot: FID, precision, recall, density, coverage and accuracy on classifier features, coherence and guidance sweeps, sample grids; writes report.md, report.json and PNGs.";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("snapshot", "snapshot file to evaluate", ValueName: "FILE"),
        new("classifier", "clean-label classifier (default: OUT/classifier.bin, trained when missing)", ValueName: "FILE"),
        new("n", "generated and real images for the main metrics", "10000", ValueName: "N"),
        new("sweep-n", "generated images per sweep point", "1000", ValueName: "N"),
        new("steps", "denoising steps", "50", ValueName: "N"),
        new("sampler", "ddim | ddpm | dpm++", "ddim", ValueName: "NAME"),
        new("steps-curve", "instead of the report: FID and accuracy at these step counts for each of --curve-samplers, and the fewest steps within 5 % of DDIM-50's FID", ValueName: "LIST"),
        new("curve-samplers", "samplers of the steps curve", "ddim,dpm++", ValueName: "LIST"),
        new("batch", "images per sampling batch", "200", ValueName: "B"),
        new("seed", "seed of the generated sets", "0", ValueName: "S"),
        new("no-sweeps", "only the main metrics (no sweeps, grids or plots)", IsFlag: true),
        new("out", "report folder", "eval-report", ValueName: "DIR"),
        new("tinted-prompts", "instead of the report: the worked RGB example's prompt accuracy (docs/results/rgb/), colour from pixels and garment by the classifier, N images per \"a {colour} {garment}\" prompt; writes tinted_prompts.md and .json", ValueName: "N"),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        var path = a.String("snapshot") ?? throw new UsageException("--snapshot FILE is required");
        if (!File.Exists(path)) throw new UsageException($"snapshot file '{path}' does not exist");
        var settings = new EvalSettings
        {
            N = a.Int("n", 10, 1_000_000),
            SweepN = a.Int("sweep-n", 10, 1_000_000),
            Steps = a.Int("steps", 1, 1000),
            Sampler = a.Parse("sampler", SamplerKinds.Parse),
            Batch = a.Int("batch", 1, 100_000),
            Seed = a.Long("seed"),
            Sweeps = !a.Flag("no-sweeps"),
        };
        var outDir = a.RequireString("out");
        CadSnapshot snapshot;
        try { snapshot = CadSnapshot.Load(path); }
        catch (SnapshotFormatException e) { throw new UsageException($"'{path}': {e.Message}"); }

        var device = TorchRuntime.Initialize();
        var classifier = ClassifierFile.LoadOrTrain(a.String("classifier"), Path.Combine(outDir, "classifier.bin"));
        var line = new ProgressLine();
        // A text model is asked for each class with its held-out prompts; its accuracy is the prompt accuracy.
        using var condition = CommandConditions.For(snapshot.Spec.Kind);
        try { snapshot.RequireEncoder(condition.EncoderIdentity); }
        catch (TextEncoderMismatchException e) { throw new UsageException($"'{path}': {e.Message}"); }
        var requests = condition.EvaluationRequests(snapshot.Spec);
        if (a.Has("tinted-prompts"))
        {
            if (snapshot.Spec.Kind != Catalog.ConditionKind.Text) throw new UsageException($"--tinted-prompts asks in words: '{path}' is not a text model");
            if (snapshot.Spec.Channels != 3) throw new UsageException($"--tinted-prompts judges colour: '{path}' is not an RGB model (Channels 3)");
            using var encoder = new Text.LazyTextEncoder();
            var tinted = new TintedPromptRun(classifier, encoder, device, text => line.Update(text)).Run(path, snapshot, condition.EncoderIdentity, outDir,
                a.Int("tinted-prompts", 1, 10_000), settings.Steps, settings.Sampler, settings.Seed, settings.Batch);
            line.Finish("tinted prompts done");
            Console.Error.WriteLine($"wrote {Path.Combine(outDir, "tinted_prompts.md")}: colour {tinted.Scores.Colour:F3}, garment {tinted.Scores.Garment:F3}, both {tinted.Scores.Both:F3}");
            return 0;
        }
        var evaluator = new Evaluator(classifier, FashionMnist.Load(train: false), settings.N);
        if (a.String("steps-curve") is { } curveSteps)
        {
            var counts = curveSteps.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(v => int.TryParse(v, out var s) && s is >= 1 and <= 1000 ? s : throw new UsageException($"--steps-curve: '{v}' is not a step count in 1..1000")).ToArray();
            var samplers = a.RequireString("curve-samplers").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(v => { try { return SamplerKinds.Parse(v); } catch (ArgumentException e) { throw new UsageException($"--curve-samplers: {e.Message}"); } }).ToArray();
            using var model = snapshot.CreateDenoiser(device, condition.EncoderIdentity);
            var curve = StepsCurve.Run(evaluator, new Model.Sampling.CadPipeline(model, device), samplers, counts, settings.N, 1.0,
                snapshot.Spec.DefaultGuidance, settings.Seed, settings.Batch, (SamplerKind.Ddim, 50), 0.05, text => line.Update(text), requests);
            StepsCurve.Write(curve, outDir);
            line.Finish("steps curve done");
            Console.Error.WriteLine($"wrote {Path.Combine(outDir, "steps_curve.md")}: fewest steps within 5 % of ddim-50's FID {curve.Reference.Fid:F2}: " +
                                    $"{curve.Recommended.Sampler} at {curve.Recommended.Steps} steps (FID {curve.Recommended.Fid:F2})");
            return 0;
        }
        var result = new EvaluationRun(evaluator, settings, device, text => line.Update(text), requests, condition.EncoderIdentity).Run(path, snapshot, outDir);
        line.Finish("evaluation done");
        var m = result.Main;
        Console.Error.WriteLine($"wrote {Path.Combine(outDir, "report.md")}: FID {m.Fid:F2}, precision {m.Precision:F3}, recall {m.Recall:F3}, density {m.Density:F3}, coverage {m.Coverage:F3}, accuracy {m.Accuracy:F3}");
        return 0;
    }
}
