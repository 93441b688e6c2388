using CadStream.Catalog;

namespace CadStream.Scoring.Conditions;

/// <summary>A class pair's coherence from a model of image-label agreement (the clean-label classifier), as it gives it.</summary>
public sealed class ClassScorer(ICoherenceModel? model) : IConditionScorer
{
    public ConditionKind Kind => ConditionKind.Class;

    public ScoreOutcome[] Score(ModelSpec spec, IReadOnlyList<IPairToScore> pairs)
    {
        var coherence = model?.Score(spec, pairs);
        return pairs.Select((_, j) => coherence is null ? ScoreOutcome.None : new ScoreOutcome(Coherence: coherence[j])).ToArray();
    }

    public void Dispose() => model?.Dispose();
}
