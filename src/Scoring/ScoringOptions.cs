using CadStream.Records.Coherence;

namespace CadStream.Scoring;

/// <summary>How pairs without a coherence get one (configuration section "Scoring").</summary>
public sealed record ScoringOptions
{
    /// <summary>Clean-label classifier file; without one, class pairs with no coherence and no score get c = 1 (the method's default).</summary>
    public string? Classifier { get; init; }
    public ClassifierCoherence ClassifierCoherence { get; init; } = ClassifierCoherence.Probability;
    /// <summary>K: equal-frequency bins a raw score is binned into, c = (bin - 1) / (K - 1).</summary>
    public int ScoreBins { get; init; } = CoherenceBins.DefaultCount;
    /// <summary>N: a model's bin edges come from the first N raw scores of its stream, then stay frozen.</summary>
    public int ScoreBinSamples { get; init; } = CoherenceBinAccumulator.DefaultSampleSize;
    /// <summary>Raw scores are divided by this before binning: 100 for CLIP scores (cosine x 100); scores outside [0, scale] go to the end bins.</summary>
    public double ScoreScale { get; init; } = 100;
    /// <summary>
    /// Image-caption agreement for text pairs with neither coherence nor score: <see cref="BuiltinTextAgreement"/>
    /// (the clean-label classifier of <see cref="Classifier"/> with the frozen text encoder), <see cref="NoTextAgreement"/>
    /// (c = 1), or the path of a user's ONNX image-text model (not supported yet: refused at start).
    /// </summary>
    public string TextAgreement { get; init; } = BuiltinTextAgreement;
    public int PoolSize { get; init; } = 2;

    public const string BuiltinTextAgreement = "builtin";
    public const string NoTextAgreement = "none";

    /// <summary>Throws <see cref="ArgumentException"/> naming the setting that is wrong.</summary>
    public void Validate()
    {
        if (ScoreBins < 2) throw new ArgumentException($"Scoring:ScoreBins must be at least 2 (got {ScoreBins})");
        if (ScoreBinSamples < 1) throw new ArgumentException($"Scoring:ScoreBinSamples must be at least 1 (got {ScoreBinSamples})");
        if (!double.IsFinite(ScoreScale) || ScoreScale <= 0) throw new ArgumentException($"Scoring:ScoreScale must be a positive number (got {ScoreScale})");
        if (PoolSize < 1) throw new ArgumentException($"Scoring:PoolSize must be at least 1 (got {PoolSize})");
        if (TextAgreementProblem() is { } problem) throw new ArgumentException(problem);
    }

    /// <summary>
    /// Why <see cref="TextAgreement"/> cannot be used, or null: only the built-in agreement and none are
    /// available; a user's own image-text model (an ONNX CLIP) plugs in behind <see cref="ITextAgreementModel"/>
    /// but has no loader yet.
    /// </summary>
    public string? TextAgreementProblem()
    {
        var setting = (TextAgreement ?? "").Trim();
        if (setting.Length == 0 || setting.Equals(BuiltinTextAgreement, StringComparison.OrdinalIgnoreCase) || setting.Equals(NoTextAgreement, StringComparison.OrdinalIgnoreCase))
            return null;
        return $"Scoring:TextAgreement '{setting}': a user's image-text model (an ONNX CLIP, say) is not supported yet; " +
               $"use \"{BuiltinTextAgreement}\" (the clean-label classifier with the text encoder), \"{NoTextAgreement}\" (c = 1), " +
               "or send each pair's own 'score' or 'coherence'";
    }
}

/// <summary>How a class pair with neither coherence nor score is scored by the classifier.</summary>
public enum ClassifierCoherence { Probability, Entropy }
