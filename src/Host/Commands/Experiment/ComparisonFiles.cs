using System.Text.Json;
using CadStream.Evaluation;
using CadStream.Evaluation.Reports;
using CadStream.Host.Cli;

namespace CadStream.Host.Commands.Experiment;

/// <summary>The comparison's files in the results folder: comparison.json, comparison.png and README.md.</summary>
public static class ComparisonFiles
{
    /// <summary>Writes the summary's rows and the figures made from them.</summary>
    public static void Write(RunSummary summary, string outDir)
    {
        File.WriteAllText(Path.Combine(outDir, "comparison.json"), JsonSerializer.Serialize(summary, EvaluationRun.Json));
        WriteFigures(summary, outDir);
    }

    /// <summary>`--report-only`: README.md and comparison.png again from OUT/comparison.json.</summary>
    public static int Rewrite(string outDir)
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
}
