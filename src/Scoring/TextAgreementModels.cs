using CadStream.Catalog;
using CadStream.Catalog.Text;
using CadStream.Data.Captions;

namespace CadStream.Scoring;

/// <summary>
/// Makes the scorers' models of image-caption agreement as <c>Scoring:TextAgreement</c> says, and owns
/// what they share: the node's one text encoder (with its caption cache) and the encoded class
/// descriptions. The node's text encoder is shared, and loaded only when a caption is first scored.
/// </summary>
public sealed class TextAgreementModels : IDisposable
{

    /// <summary>Each scorer's model (null: text pairs without coherence or score get c = 1).</summary>
    public Func<ITextAgreementModel?> Factory { get; }
    /// <summary>Why text pairs without coherence or score get c = 1 on this node, for a log line; null when they are scored.</summary>
    public string? NotScoredBecause { get; }

    private TextAgreementModels(Func<ITextAgreementModel?> factory, string? notScoredBecause)
    {
        Factory = factory;
        NotScoredBecause = notScoredBecause;
    }

    /// <summary>
    /// Checks the setting (a user's image-text model, an ONNX CLIP say, is refused: not supported yet) and,
    /// when this node scores for text models with the built-in agreement and a classifier is configured,
    /// uses the node's shared text encoder.
    /// </summary>
    /// <exception cref="InvalidDataException">A path to an image-text model, or an unknown value (<see cref="ScoringOptions.TextAgreementProblem"/>).</exception>
    /// <param name="encoder">The node's shared text encoder (loaded on first use).</param>
    /// <param name="classifier">The node's classifier, which may still be training (default: <c>Scoring:Classifier</c>, which must exist).</param>
    public static TextAgreementModels Create(ScoringOptions scoring, ModelCatalog catalog, bool scores, ITextEncoder? encoder,
        ClassifierSource? classifier = null)
    {
        if (scoring.TextAgreementProblem() is { } problem) throw new InvalidDataException(problem);
        if ((scoring.TextAgreement ?? "").Trim().Equals(ScoringOptions.NoTextAgreement, StringComparison.OrdinalIgnoreCase))
            return None("Scoring:TextAgreement is none");
        if (!scores || !catalog.For(null, ConditionKind.Text).Any()) return None(null);
        if (classifier is null && scoring.Classifier is not null) classifier = ClassifierSource.Existing(scoring.Classifier);
        if (classifier is null)
            return None("the built-in agreement needs the clean-label classifier (Scoring:Classifier)");

        if (encoder is null) return None("this node has no text encoder");
        var agreement = new CaptionAgreement(encoder, ClassDescriptions.FashionMnist);
        return new TextAgreementModels(() => new ClassifierTextAgreement(new ClassifierCopy(classifier), agreement), null);
    }

    static TextAgreementModels None(string? because) => new(() => null, because);

    public void Dispose() { }
}
