using CadStream.Catalog;
using CadStream.Evaluation.Reports;

namespace CadStream.Host.Commands.Experiment;

/// <summary>
/// What one `cadstream experiment` trains and evaluates: the models (each at <see cref="Seed"/>, those in
/// <see cref="SecondSeed"/> also at seed + 1), the one budget they share and the one guidance grid.
/// </summary>
/// <param name="Limit">Train on the first N training images only; 0 = all.</param>
/// <param name="Classifier">The clean-label classifier given on the command line; null: OUT/classifier.bin, trained when missing.</param>
internal sealed record ExperimentPlan(ConditionKind Kind, string[] Models, string[] SecondSeed, double[] Grid, long Steps, int Batch, int Width,
    double LearningRate, string Noise, double Beta, int Seed, int Limit, EvalSettings Eval, string? Classifier, string TextCache, string OutDir)
{
    public int? TrainLimit => Limit > 0 ? Limit : null;
    public string ClassifierPath => Classifier ?? Path.Combine(OutDir, "classifier.bin");

    /// <summary>Every model at the seed, then the second-seed ones at seed + 1.</summary>
    public IReadOnlyList<(string Name, int Seed)> Runs() =>
        Models.Select(m => (Name: m, Seed)).Concat(Models.Where(SecondSeed.Contains).Select(m => (Name: m, Seed: Seed + 1))).ToList();

    /// <summary>A run's name in file names and progress lines: the model's, with the seed when it is the second one.</summary>
    public string Tag(string name, int runSeed) => runSeed == Seed ? name : $"{name}-seed{runSeed}";

    /// <summary>The training mode of a model: clean is classic CFG on the true labels, the others are the mode they name.</summary>
    public static TrainingMode ModeOf(string name) => name == "clean" ? TrainingMode.Cfg : TrainingModes.Parse(name);

    /// <summary>What makes a model's run the same run as an earlier one (<see cref="RunRecord"/>).</summary>
    public RunKey KeyOf(string name, int runSeed) =>
        new(Kind.Name(), Limit, ModeOf(name).Name(), Steps, Batch, Width, LearningRate, Noise, Beta, runSeed, Grid, Eval.N, Eval.Steps);
}
