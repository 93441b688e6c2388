using System.Globalization;
using System.Text;
using System.Text.Json;
using CadStream.Records;

namespace CadStream.Sources;

/// <summary>How a sample's fields become a record's: which field holds the score and on what scale, which model.</summary>
/// <param name="ScoreField">The json field of the score; null = <c>similarity</c> when a sample has it.</param>
/// <param name="ScoreScale">null = cosine (the scale of <c>similarity</c>).</param>
public sealed record FieldOptions(string? ScoreField = null, ScoreScale? ScoreScale = null, string? Model = null, ParquetColumns? Columns = null)
{
    public const string DefaultScoreField = "similarity";
    public ScoreScale Scale => ScoreScale ?? CadStream.Sources.ScoreScale.Cosine;
}

/// <summary>
/// Stage 4: a sample's condition fields into the record the producer sends. The image goes as its bytes (no
/// re-encoding: the ingress decodes any format Skia reads); caption from <c>.txt</c> or the json's <c>caption</c>;
/// label from <c>.cls</c> or the json's <c>label</c> (index or class name); score from the json field. A sample is
/// sent even when a field is wrong (no image, empty caption, a corrupt image): the ingress dead-letters it with its
/// reason, so each such record is counted once, in one place, as every other producer's would be.
/// </summary>
public static class SampleFields
{
    /// <summary>Image extensions in the order one is picked when a key has several.</summary>
    public static readonly string[] ImageExtensions = ["jpg", "jpeg", "png", "webp", "gif", "bmp"];

    public static PairRecord ToRecord(Sample sample, FieldOptions options, SourceReport report)
    {
        byte[]? image = null;
        foreach (var ext in ImageExtensions)
            if (sample.Parts.TryGetValue(ext, out image)) break;

        string? caption = sample.Parts.TryGetValue("txt", out var txt) ? Encoding.UTF8.GetString(txt).Trim() : null;
        int? label = null;
        string? labelName = null;
        if (sample.Parts.TryGetValue("cls", out var cls)) (label, labelName) = Label(Encoding.UTF8.GetString(cls).Trim());
        double? score = null;
        if (sample.Parts.TryGetValue("json", out var json))
        {
            try
            {
                using var doc = JsonDocument.Parse(json);
                if (doc.RootElement.ValueKind == JsonValueKind.Object)
                {
                    var root = doc.RootElement;
                    if (caption is null && root.TryGetProperty("caption", out var c) && c.ValueKind == JsonValueKind.String) caption = c.GetString();
                    if (label is null && labelName is null && root.TryGetProperty("label", out var l))
                        (label, labelName) = l.ValueKind switch
                        {
                            JsonValueKind.Number when l.TryGetInt32(out var i) => (i, null),
                            JsonValueKind.String => Label(l.GetString()!),
                            _ => (null, null),
                        };
                    var field = options.ScoreField ?? FieldOptions.DefaultScoreField;
                    if (root.TryGetProperty(field, out var s))
                    {
                        if (s.ValueKind == JsonValueKind.Number && double.IsFinite(s.GetDouble())) score = options.Scale.ToRecord(s.GetDouble());
                        else report.Problem(sample.Source, sample.Key + ".json", $"score field '{field}' is not a number; sent without a score");
                    }
                    else if (options.ScoreField is not null)
                        report.Problem(sample.Source, sample.Key + ".json", $"no score field '{field}'; sent without a score");
                }
            }
            catch (JsonException e) { report.Problem(sample.Source, sample.Key + ".json", $"not JSON ({e.Message}); its fields were not read"); }
        }
        return new PairRecord
        {
            Id = $"{Path.GetFileName(sample.Source)}/{sample.Key}",
            Model = options.Model,
            Image = image,
            Caption = caption,
            Label = label,
            LabelName = labelName,
            Score = score,
        };
    }

    /// <summary>A label as written: an integer index, or a class name.</summary>
    public static (int? Index, string? Name) Label(string text) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? (i, null) : text.Length == 0 ? (null, null) : (null, text);
}
