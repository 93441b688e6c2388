using CadStream.Catalog;

namespace CadStream.Scoring.Conditions;

/// <summary>
/// One scorer actor's units, one per condition kind, and the one place a pair's kind picks its unit. The
/// scorer owns them (and so their models of agreement); dispose with it.
/// </summary>
/// <param name="coherence">The scorer's model of image-label agreement (null: class pairs without coherence get c = 1).</param>
/// <param name="agreement">The scorer's model of image-caption agreement (null: text pairs without coherence get c = 1).</param>
public sealed class ConditionScorers(ICoherenceModel? coherence, ITextAgreementModel? agreement, CoherenceTables tables) : IDisposable
{
    private readonly ClassScorer classes = new(coherence);
    private readonly TextScorer texts = new(agreement, tables);

    public IConditionScorer For(ConditionKind kind) => kind switch
    {
        ConditionKind.Class => classes,
        ConditionKind.Text => texts,
        _ => throw new NotSupportedException(ConditionKinds.NotAvailable(kind)),
    };

    public void Dispose()
    {
        classes.Dispose();
        texts.Dispose();
    }
}
