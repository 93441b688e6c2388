using CadStream.Catalog;
using CadStream.Records;

namespace CadStream.Ingress.Conditions;

/// <summary>A text pair's <c>caption</c>: 1 to <see cref="PairDecoderOptions.MaxCaptionLength"/> characters (Unicode code points).</summary>
public sealed class TextConditionField(PairDecoderOptions options) : IConditionField
{
    public ConditionKind Kind => ConditionKind.Text;

    public bool Carries(PairRecord record) => record.Caption is not null;

    /// <summary>Why a caption cannot be a text model's condition, or null: empty, blank or longer than <see cref="PairDecoderOptions.MaxCaptionLength"/>.</summary>
    public string? RecordProblem(PairRecord record)
    {
        if (record.Caption is not { } caption) return null;
        if (string.IsNullOrWhiteSpace(caption)) return $"empty caption: a caption needs 1 to {options.MaxCaptionLength} characters";
        // Characters are Unicode code points: an emoji is one, as a user counts it, not two UTF-16 units.
        int length = CaptionLength(caption);
        return length > options.MaxCaptionLength
            ? $"caption of {length} characters exceeds the {options.MaxCaptionLength}-character limit (Ingress:MaxCaptionLength)"
            : null;
    }

    public string Missing => "missing caption: text models need 'caption' (text of 1 or more characters)";

    public string Needs => "text models need 'caption'";

    public string? Check(PairRecord record, IReadOnlyList<ModelSpec> models) => null;

    public IncomingPair Apply(PairRecord record, IReadOnlyList<ModelSpec> models, IncomingPair pair) => pair with { Caption = record.Caption };

    /// <summary>A caption's length in Unicode code points.</summary>
    public static int CaptionLength(string caption)
    {
        int n = 0;
        foreach (var _ in caption.EnumerateRunes()) n++;
        return n;
    }
}
