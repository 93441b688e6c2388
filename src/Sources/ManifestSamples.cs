using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CadStream.Sources;

/// <summary>
/// A manifest's stages (JSONL: one object a line; CSV: a header line, then rows): each row's fields into a sample.
/// The image is the file at <c>path</c> (or <c>image</c>, <c>file</c>), relative to the manifest's folder; caption from
/// <c>caption</c> or <c>text</c>; <c>label</c>; the score from the score field like a shard's json. A row that cannot be
/// parsed is one line naming the manifest and the row; a missing image file is one line too, and its record is still
/// sent for the ingress to dead-letter ("missing image"), so it is counted there as well.
/// </summary>
public static class ManifestSamples
{
    static readonly string[] PathFields = ["path", "image", "file", "file_name"];
    static readonly string[] CaptionFields = ["caption", "text"];

    public static IEnumerable<Sample> Read(SourceFile manifest, SourceReport report)
    {
        IEnumerable<(int Row, JsonObject? Fields, string? Error)> rows = manifest.Format == SourceFormat.Csv ? CsvRows(manifest) : JsonlRows(manifest);
        var folder = Path.GetDirectoryName(Path.GetFullPath(manifest.Path))!;
        IEnumerator<(int Row, JsonObject? Fields, string? Error)> e;
        try { e = rows.GetEnumerator(); }
        catch (IOException ex) { report.FileFailed(manifest.Path, null, $"cannot open ({ex.Message})"); yield break; }
        using (e)
        {
            while (true)
            {
                try { if (!e.MoveNext()) break; }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    report.FileFailed(manifest.Path, null, $"cannot read ({ex.Message})");
                    yield break;
                }
                var (row, fields, error) = e.Current;
                var member = $"row {row}";
                if (fields is null) { report.Problem(manifest.Path, member, error!); continue; }
                yield return ToSample(manifest, folder, member, row, fields, report);
            }
        }
        report.FileDone();
    }

    static Sample ToSample(SourceFile manifest, string folder, string member, int row, JsonObject fields, SourceReport report)
    {
        var parts = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        string? image = PathFields.Select(f => fields[f]?.GetValueKind() == JsonValueKind.String ? (string?)fields[f]!.GetValue<string>() : null).FirstOrDefault(p => !string.IsNullOrWhiteSpace(p));
        string key = $"{row}";
        if (image is null) report.Problem(manifest.Path, member, $"no image path (a column {string.Join(", ", PathFields)}); sent without an image");
        else
        {
            key = image;
            var full = Path.IsPathRooted(image) ? image : Path.Combine(folder, image);
            var ext = Path.GetExtension(full).TrimStart('.').ToLowerInvariant();
            try { parts[SampleFields.ImageExtensions.Contains(ext) ? ext : "png"] = File.ReadAllBytes(full); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                report.Problem(manifest.Path, member, $"image {image} cannot be read ({ex.Message}); sent without an image");
            }
        }
        var caption = CaptionFields.Select(f => fields[f]).FirstOrDefault(n => n is not null);
        if (caption is not null) parts["txt"] = Encoding.UTF8.GetBytes(caption.ToString());
        if (fields["label"] is { } label) parts["cls"] = Encoding.UTF8.GetBytes(label.ToString());
        parts["json"] = Encoding.UTF8.GetBytes(fields.ToJsonString());
        return new Sample(manifest.Name, key, parts);
    }

    static IEnumerable<(int, JsonObject?, string?)> JsonlRows(SourceFile manifest)
    {
        int row = 0;
        foreach (var line in File.ReadLines(manifest.Path))
        {
            row++;
            if (line.Trim().Length == 0) continue;
            JsonObject? fields = null;
            string? error = null;
            try { fields = JsonNode.Parse(line) as JsonObject ?? throw new JsonException("not a JSON object"); }
            catch (JsonException e) { error = $"not a JSON object ({e.Message}); skipped"; }
            yield return (row, fields, error);
        }
    }

    static IEnumerable<(int, JsonObject?, string?)> CsvRows(SourceFile manifest)
    {
        using var reader = new StreamReader(manifest.Path, Encoding.UTF8);
        string[]? header = null;
        int row = 0;
        foreach (var record in Csv.Records(reader))
        {
            row++;
            if (header is null) { header = [.. record.Select(h => h.Trim().ToLowerInvariant())]; continue; }
            if (record.Count == 1 && record[0].Length == 0) continue;
            if (record.Count != header.Length)
            {
                yield return (row, null, $"{record.Count} fields where the header has {header.Length}; skipped");
                continue;
            }
            var fields = new JsonObject();
            for (int i = 0; i < header.Length; i++)
                // A number stays a number, so a score column reads as the json's score does.
                fields[header[i]] = double.TryParse(record[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && header[i] != "caption" && header[i] != "text"
                    ? JsonValue.Create(v) : JsonValue.Create(record[i]);
            yield return (row, fields, null);
        }
    }
}

/// <summary>RFC 4180 records: commas, quoted fields with doubled quotes and line breaks inside.</summary>
public static class Csv
{
    public static IEnumerable<List<string>> Records(TextReader reader)
    {
        var record = new List<string>();
        var field = new StringBuilder();
        bool quoted = false, any = false;
        int c;
        while ((c = reader.Read()) >= 0)
        {
            any = true;
            char ch = (char)c;
            if (quoted)
            {
                if (ch == '"') { if (reader.Peek() == '"') { reader.Read(); field.Append('"'); } else quoted = false; }
                else field.Append(ch);
            }
            else if (ch == '"') quoted = true;
            else if (ch == ',') { record.Add(field.ToString()); field.Clear(); }
            else if (ch == '\n')
            {
                record.Add(field.ToString().TrimEnd('\r')); field.Clear();
                yield return record;
                record = [];
                any = false;
            }
            else field.Append(ch);
        }
        if (any) { record.Add(field.ToString().TrimEnd('\r')); yield return record; }
    }
}
