using System.Text;
using System.Text.Json.Nodes;
using Parquet;
using Parquet.Schema;

namespace CadStream.Sources;

/// <summary>Which Parquet columns hold what; null = the Hugging Face datasets' usual names.</summary>
public sealed record ParquetColumns(string? Image = null, string? Caption = null, string? Label = null, string? Score = null)
{
    public static readonly string[] ImageDefaults = ["image", "img", "jpg", "png"];
    public static readonly string[] CaptionDefaults = ["text", "caption"];
    public static readonly string[] LabelDefaults = ["label"];
    public static readonly string[] ScoreDefaults = ["similarity"];
}

/// <summary>
/// A Parquet file's stages (Parquet.Net, fully managed): row groups, then each row's columns into a sample. The image
/// column is bytes, or the Hugging Face image struct <c>{bytes, path}</c>: its bytes, else the file at its path
/// relative to the Parquet file. A column named on the command line and missing is one line naming the file and
/// column (the file is skipped); a row with no image is sent for the ingress to dead-letter.
/// </summary>
public static class ParquetRows
{
    public static IEnumerable<Sample> Read(SourceFile file, ParquetColumns columns, SourceReport report)
    {
        List<Sample>? group;
        int index = 0;
        ParquetReader? reader = null;
        string? failure = null;
        try { reader = ParquetReader.CreateAsync(file.Path).GetAwaiter().GetResult(); }
        catch (Exception e) when (e is IOException or InvalidDataException or ParquetException or NotSupportedException) { failure = $"not a readable Parquet file ({e.Message})"; }
        if (reader is null) { report.FileFailed(file.Path, null, failure!); yield break; }
        try
        {
            Fields? fields;
            try { fields = Find(reader.Schema, columns); }
            catch (ArgumentException e) { report.FileFailed(file.Path, null, e.Message); yield break; }
            var folder = Path.GetDirectoryName(Path.GetFullPath(file.Path))!;
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                try { group = ReadGroup(reader, g, fields, file, folder, ref index, report); }
                catch (Exception e) when (e is IOException or InvalidDataException or ParquetException or NotSupportedException or InvalidOperationException)
                {
                    report.FileFailed(file.Path, $"row group {g}", $"cannot be read ({e.Message}); the groups before it were read");
                    yield break;
                }
                foreach (var s in group) yield return s;
            }
        }
        finally { reader.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
        report.FileDone();
    }

    sealed record Fields(DataField? Bytes, DataField? Path, DataField? Caption, DataField? Label, DataField? Score);

    static Fields Find(ParquetSchema schema, ParquetColumns c)
    {
        Field? Top(string? named, string[] defaults, string option)
        {
            if (named is not null)
                return schema.Fields.FirstOrDefault(f => f.Name == named) ?? throw new ArgumentException(
                    $"no column '{named}' (--{option}); its columns are {string.Join(", ", schema.Fields.Select(f => f.Name))}");
            return defaults.Select(d => schema.Fields.FirstOrDefault(f => f.Name == d)).FirstOrDefault(f => f is not null);
        }
        DataField? Leaf(Field? f) => f as DataField;
        var image = Top(c.Image, ParquetColumns.ImageDefaults, "image-column") ?? throw new ArgumentException(
            $"no image column (one of {string.Join(", ", ParquetColumns.ImageDefaults)}; name it with --image-column)");
        DataField? bytes = null, path = null;
        if (image is StructField s)
        {
            bytes = s.Fields.OfType<DataField>().FirstOrDefault(f => f.Name == "bytes");
            path = s.Fields.OfType<DataField>().FirstOrDefault(f => f.Name == "path");
            if (bytes is null && path is null) throw new ArgumentException($"image column '{image.Name}' is a struct without bytes or path");
        }
        else bytes = Leaf(image) ?? throw new ArgumentException($"image column '{image.Name}' is neither bytes nor a {{bytes, path}} struct");
        return new Fields(bytes, path, Leaf(Top(c.Caption, ParquetColumns.CaptionDefaults, "caption-column")),
            Leaf(Top(c.Label, ParquetColumns.LabelDefaults, "label-column")), Leaf(Top(c.Score, ParquetColumns.ScoreDefaults, "score-column")));
    }

    static List<Sample> ReadGroup(ParquetReader reader, int g, Fields f, SourceFile file, string folder, ref int index, SourceReport report)
    {
        using var rg = reader.OpenRowGroupReader(g);
        int n = checked((int)rg.RowCount);
        byte[]?[] bytes = new byte[]?[n];
        string?[] paths = new string?[n], captions = new string?[n], labels = new string?[n];
        double?[] scores = new double?[n];
        if (f.Bytes is not null) rg.ReadAsync(f.Bytes, bytes.AsMemory()!, null).AsTask().GetAwaiter().GetResult();
        if (f.Path is not null) rg.ReadAsync(f.Path, paths.AsMemory()!, null).AsTask().GetAwaiter().GetResult();
        if (f.Caption is not null) rg.ReadAsync(f.Caption, captions.AsMemory()!, null).AsTask().GetAwaiter().GetResult();
        if (f.Label is not null) labels = Texts(rg, f.Label, n);
        if (f.Score is not null) scores = Numbers(rg, f.Score, n);
        var samples = new List<Sample>(n);
        for (int i = 0; i < n; i++, index++)
        {
            var parts = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            // A null in the struct reads as no bytes; an empty image is no image either, so the path is tried.
            var image = bytes[i] is { Length: > 0 } b ? b : null;
            if (image is null && paths[i] is { Length: > 0 } p)
            {
                try { image = File.ReadAllBytes(Path.IsPathRooted(p) ? p : Path.Combine(folder, p)); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { report.Problem(file.Path, $"row {index}", $"image path {p} cannot be read ({e.Message}); sent without an image"); }
            }
            if (image is not null) parts["png"] = image; // any format: the ingress reads the bytes, not the name
            if (captions[i] is { } c) parts["txt"] = Encoding.UTF8.GetBytes(c);
            if (labels[i] is { } l) parts["cls"] = Encoding.UTF8.GetBytes(l);
            if (scores[i] is { } s) parts["json"] = Encoding.UTF8.GetBytes(new JsonObject { ["similarity"] = s }.ToJsonString());
            samples.Add(new Sample(file.Name, $"{index}", parts));
        }
        return samples;
    }

    static string?[] Texts(ParquetRowGroupReader rg, DataField f, int n)
    {
        var t = Nullable.GetUnderlyingType(f.ClrType) ?? f.ClrType;
        if (t == typeof(string)) { var v = new string?[n]; rg.ReadAsync(f, v.AsMemory()!, null).AsTask().GetAwaiter().GetResult(); return v; }
        if (t == typeof(long)) { var v = new long?[n]; rg.ReadAsync(f, v.AsMemory(), null).AsTask().GetAwaiter().GetResult(); return [.. v.Select(x => x?.ToString(System.Globalization.CultureInfo.InvariantCulture))]; }
        if (t == typeof(int)) { var v = new int?[n]; rg.ReadAsync(f, v.AsMemory(), null).AsTask().GetAwaiter().GetResult(); return [.. v.Select(x => x?.ToString(System.Globalization.CultureInfo.InvariantCulture))]; }
        throw new NotSupportedException($"label column '{f.Name}' is {t.Name}; expected integers or text");
    }

    static double?[] Numbers(ParquetRowGroupReader rg, DataField f, int n)
    {
        var t = Nullable.GetUnderlyingType(f.ClrType) ?? f.ClrType;
        if (t == typeof(double)) { var v = new double?[n]; rg.ReadAsync(f, v.AsMemory(), null).AsTask().GetAwaiter().GetResult(); return v; }
        if (t == typeof(float)) { var v = new float?[n]; rg.ReadAsync(f, v.AsMemory(), null).AsTask().GetAwaiter().GetResult(); return [.. v.Select(x => (double?)x)]; }
        throw new NotSupportedException($"score column '{f.Name}' is {t.Name}; expected a number");
    }
}
