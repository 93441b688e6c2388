using CadStream.Catalog;

namespace CadStream.Scoring.Conditions;

/// <summary>
/// A text pair's image-caption agreement (a cosine in [-1, 1]), put on the score scale so that the model's bin
/// table bins it with the records' own scores (<see cref="CoherenceTables.AgreementScore"/>).
/// </summary>
public sealed class TextScorer(ITextAgreementModel? model, CoherenceTables tables) : IConditionScorer
{
    public ConditionKind Kind => ConditionKind.Text;

    public ScoreOutcome[] Score(ModelSpec spec, IReadOnlyList<IPairToScore> pairs)
    {
        var agreement = model?.Agreement(spec, pairs);
        return pairs.Select((_, j) => agreement is null || !double.IsFinite(agreement[j])
            ? ScoreOutcome.None
            : new ScoreOutcome(RawScore: tables.AgreementScore(agreement[j]))).ToArray();
    }

    public void Dispose() => model?.Dispose();
}
