using CadStream.Evaluation.Reports;

namespace CadStream.Host.Commands.Experiment;

/// <summary>One evaluated point of the comparison: a model (name, mode, seed) at one guidance rate.</summary>
public sealed record Row(string Name, string Mode, double Guidance, double Fid, double Accuracy, int Seed,
    double Precision, double Recall, double Density, double Coverage, double TrainSeconds, double FinalLoss);

/// <summary>The whole comparison as comparison.json holds it: the settings every model shared, and every row.</summary>
public sealed record RunSummary(string Condition, string[] Models, string[] SecondSeed, double[] GuidanceGrid, long Steps, int Batch, int Width, double LearningRate,
    string Noise, int Seed, int TrainImages, double WrongLabelFraction, EvalSettings Eval, string Features, string Machine, double Seconds, List<Row> Rows);
