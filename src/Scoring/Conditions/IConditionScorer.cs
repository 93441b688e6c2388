using CadStream.Catalog;

namespace CadStream.Scoring.Conditions;

/// <summary>
/// What a scorer gives a pair that came with neither a coherence nor a raw score: a coherence in [0, 1] as it
/// is, or a raw score the model's bin table turns into one; neither: c = 1 (the method's default).
/// </summary>
public readonly record struct ScoreOutcome(float? Coherence = null, double? RawScore = null)
{
    public static ScoreOutcome None => default;
}

/// <summary>
/// One condition kind's scoring of pairs without coherence or score, for the whole batch of one model at once.
/// One instance per scorer actor (it owns that scorer's models of agreement), chosen by <see cref="ConditionScorers"/>.
/// </summary>
public interface IConditionScorer : IDisposable
{
    ConditionKind Kind { get; }

    /// <summary>One outcome per pair, in order.</summary>
    ScoreOutcome[] Score(ModelSpec model, IReadOnlyList<IPairToScore> pairs);
}
