using CadStream.Records;
using CadStream.Sources;
using ParquetSharp;
using ParquetSharp.Schema;

namespace CadStream.Tests.Sources;

/// <summary>
/// The Parquet reader (Parquet.Net) on files written by another implementation: ParquetSharp, Apache's C++ writer, with
/// the Hugging Face image struct {bytes, path}.
/// </summary>
public sealed class ParquetTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("cad-parquet-").FullName;
    public void Dispose() => Directory.Delete(dir, recursive: true);

    static readonly byte[] Jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 7, 7];
    static readonly byte[] Png = [0x89, 0x50, 0x4E, 0x47, 1];

    /// <summary>A Hugging Face-shaped file: image {bytes, path}, text, label (int64), similarity (double).</summary>
    string WriteHuggingFace(string name, (byte[]? Bytes, string? Path)?[] images, string?[] texts, long?[] labels, double?[] scores)
    {
        var path = Path.Combine(dir, name);
        using var bytesNode = new PrimitiveNode("bytes", Repetition.Optional, LogicalType.None(), PhysicalType.ByteArray);
        using var pathNode = new PrimitiveNode("path", Repetition.Optional, LogicalType.String(), PhysicalType.ByteArray);
        using var image = new GroupNode("image", Repetition.Optional, [bytesNode, pathNode]);
        using var text = new PrimitiveNode("text", Repetition.Optional, LogicalType.String(), PhysicalType.ByteArray);
        using var label = new PrimitiveNode("label", Repetition.Optional, LogicalType.None(), PhysicalType.Int64);
        using var score = new PrimitiveNode("similarity", Repetition.Optional, LogicalType.None(), PhysicalType.Double);
        using var schema = new GroupNode("schema", Repetition.Required, [image, text, label, score]);
        using var props = new WriterPropertiesBuilder().Build();
        using var writer = new ParquetFileWriter(path, schema, props);
        using (var rg = writer.AppendRowGroup())
        {
            using (var w = rg.NextColumn().LogicalWriter<Nested<byte[]?>?>())
                w.WriteBatch([.. images.Select(i => i is { } v ? new Nested<byte[]?>(v.Bytes) : (Nested<byte[]?>?)null)]);
            using (var w = rg.NextColumn().LogicalWriter<Nested<string?>?>())
                w.WriteBatch([.. images.Select(i => i is { } v ? new Nested<string?>(v.Path) : (Nested<string?>?)null)]);
            using (var w = rg.NextColumn().LogicalWriter<string?>()) w.WriteBatch(texts);
            using (var w = rg.NextColumn().LogicalWriter<long?>()) w.WriteBatch(labels);
            using (var w = rg.NextColumn().LogicalWriter<double?>()) w.WriteBatch(scores);
        }
        writer.Close();
        return path;
    }

    (List<PairRecord> Records, SourceReport Report) ReadAll(string path, ParquetColumns? columns = null)
    {
        var report = new SourceReport();
        return ([.. SourceReading.Read(SourceFiles.Expand([path]), new FieldOptions(Columns: columns), report)], report);
    }

    [Fact]
    public void The_image_struct_gives_its_bytes_else_the_file_at_its_path_and_the_other_columns_their_fields()
    {
        File.WriteAllBytes(Path.Combine(dir, "beside.png"), Png);
        var path = WriteHuggingFace("train-00000.parquet",
            [(Jpeg, "ignored.jpg"), (null, "beside.png"), null],
            ["a red coat", "a boot", "no picture"], [3, null, 1], [0.3, 0.25, null]);

        var (records, report) = ReadAll(path);

        Assert.Equal(["train-00000.parquet/0", "train-00000.parquet/1", "train-00000.parquet/2"], records.Select(r => r.Id));
        Assert.Equal(Jpeg, records[0].Image);
        Assert.Equal(Png, records[1].Image);
        Assert.Null(records[2].Image); // sent: the ingress dead-letters it as missing its image
        Assert.Equal(["a red coat", "a boot", "no picture"], records.Select(r => r.Caption));
        Assert.Equal([3, null, 1], records.Select(r => r.Label));
        Assert.Equal([30.0, 25.0, null], records.Select(r => r.Score is { } s ? Math.Round(s, 9) : (double?)null));
        Assert.Empty(report.Problems);
        Assert.Equal(1, report.FilesRead);
    }

    [Fact]
    public void A_named_column_that_is_missing_is_one_line_naming_the_file_and_its_columns()
    {
        var path = WriteHuggingFace("p.parquet", [(Jpeg, null)], ["x"], [0], [0.2]);
        var (records, report) = ReadAll(path, new ParquetColumns(Caption: "sentence"));
        Assert.Empty(records);
        var p = Assert.Single(report.Problems);
        Assert.Equal(path, p.File);
        Assert.Contains("no column 'sentence' (--caption-column)", p.Reason);
        Assert.Contains("image, text, label, similarity", p.Reason);
    }

    [Fact]
    public void A_file_that_is_not_parquet_is_one_line_and_the_next_input_still_reads()
    {
        var bad = Path.Combine(dir, "bad.parquet");
        File.WriteAllBytes(bad, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        var good = WriteHuggingFace("good.parquet", [(Jpeg, null)], ["x"], [0], [0.2]);
        var report = new SourceReport();
        var records = SourceReading.Read(SourceFiles.Expand([bad, good]), new FieldOptions(), report).ToList();
        Assert.Equal(["good.parquet/0"], records.Select(r => r.Id));
        Assert.Equal(bad, Assert.Single(report.Problems).File);
        Assert.Equal((1, 1), (report.FilesRead, report.FilesFailed));
    }
}
