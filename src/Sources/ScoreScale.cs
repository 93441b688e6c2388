using System.Globalization;

namespace CadStream.Sources;

/// <summary>
/// What a source's score means, said once (<c>--score-scale</c>), so every record's <c>score</c> is on the contract's
/// CLIP x 100 scale that <c>Scoring:ScoreScale</c> (100) divides by: LAION and img2dataset write <c>similarity</c> as
/// the raw cosine (0.3 is LAION-400M's cut), which is sent as 30.
/// </summary>
public enum ScoreScale { Cosine, Clip100 }

public static class ScoreScales
{
    public const string Vocabulary = "cosine | clip100";

    public static ScoreScale Parse(string s) => s.Trim().ToLowerInvariant() switch
    {
        "cosine" => ScoreScale.Cosine,
        "clip100" or "x100" => ScoreScale.Clip100,
        _ => throw new ArgumentException($"--score-scale must be cosine (raw cosine, as LAION's similarity) or clip100 (CLIP score x 100); got '{s}'"),
    };

    /// <summary>The score as a record carries it (CLIP x 100).</summary>
    public static double ToRecord(this ScoreScale scale, double score) => scale == ScoreScale.Cosine ? score * 100 : score;

    public static string Name(this ScoreScale scale) => scale == ScoreScale.Cosine ? "cosine" : "clip100";

    public static double? ParseScore(string text) =>
        double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) ? v : null;
}
