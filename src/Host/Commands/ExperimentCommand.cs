using System.Globalization;
using CadStream.Catalog;
using CadStream.Evaluation.Reports;
using CadStream.Host.Cli;
using CadStream.Host.Commands.Experiment;

namespace CadStream.Host.Commands;

/// <summary>
/// `cadstream experiment`: the paper's comparison on noisy Fashion-MNIST, made fair. Five models on the
/// same noised data and budget (architecture, steps, batch, seeds): clean (classic CFG on true labels,
/// the upper anchor), baseline, filtered, weighted (each with classic CFG: the null label for 10 % of
/// pairs, guided against it) and cad (CA-CFG). Every model is evaluated on the same guidance grid; the
/// table shows each at matched guidance (w = 1) and at its own best FID, and a second seed of the models
/// named by --second-seed shows the spread. This class reads the options into an <see cref="ExperimentPlan"/>;
/// <see cref="ExperimentRun"/> carries it out and <see cref="ComparisonFiles"/> writes the comparison.
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
        if (a.Flag("report-only")) return ComparisonFiles.Rewrite(a.RequireString("out"));
        ExperimentRun.Run(Plan(a), cancel);
        return 0;
    }

    /// <summary>The options as a plan, every one checked before anything is trained.</summary>
    static ExperimentPlan Plan(ParsedArgs a)
    {
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
        double beta = a.Double("beta", 1e-6, 1e6);
        int limit = a.Int("limit", 0);
        return new ExperimentPlan(kind, models, twice, grid, steps, batch, width, lr, noise, beta, seed, limit, evalSettings,
            a.String("classifier"), a.RequireString("text-cache"), outDir);
    }

    static string[] List(string value, string option)
    {
        var list = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var m in list)
            if (!Known.Contains(m)) throw new UsageException($"{option}: unknown model '{m}'; expected {string.Join(", ", Known)}");
        return list;
    }
}
