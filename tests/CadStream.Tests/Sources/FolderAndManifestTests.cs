using System.Text;
using CadStream.Records;
using CadStream.Sources;

namespace CadStream.Tests.Sources;

/// <summary>Folders (class per subfolder, or sidecars) and JSONL/CSV manifests, on files each test writes.</summary>
public sealed class FolderAndManifestTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("cad-folder-").FullName;
    public void Dispose() => Directory.Delete(dir, recursive: true);

    string Write(string relative, string text) => Write(relative, Encoding.UTF8.GetBytes(text));
    string Write(string relative, byte[] data)
    {
        var path = Path.Combine(dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, data);
        return path;
    }

    static readonly byte[] Jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 9];

    (List<PairRecord> Records, SourceReport Report) ReadAll(string path)
    {
        var report = new SourceReport();
        return ([.. SourceReading.Read(SourceFiles.Expand([path]), new FieldOptions(), report)], report);
    }

    [Fact]
    public void A_folder_of_class_subfolders_labels_each_image_by_its_subfolder_and_sidecars_win()
    {
        Write("pets/cat/1.jpg", Jpeg);
        Write("pets/dog/2.png", Jpeg);
        Write("pets/dog/3.jpg", Jpeg);
        Write("pets/dog/3.json", """{"label": "wolf", "caption": "a grey wolf", "similarity": 0.4}""");
        Write("pets/dog/notes.md", "not an image");

        var (records, report) = ReadAll(Path.Combine(dir, "pets"));

        Assert.Equal(["pets/cat/1", "pets/dog/2", "pets/dog/3"], records.Select(r => r.Id));
        Assert.Equal(["cat", "dog", "wolf"], records.Select(r => r.LabelName));
        Assert.Equal([null, null, "a grey wolf"], records.Select(r => r.Caption));
        Assert.Equal(40, records[2].Score!.Value, 9);
        Assert.All(records, r => Assert.Equal(Jpeg, r.Image));
        Assert.Empty(report.Problems);
    }

    [Fact]
    public void A_flat_folder_takes_captions_from_txt_sidecars()
    {
        Write("flat/a.jpg", Jpeg);
        Write("flat/a.txt", "a red dress\n");
        Write("flat/b.jpg", Jpeg);
        var (records, _) = ReadAll(Path.Combine(dir, "flat"));
        Assert.Equal([("flat/a", "a red dress"), ("flat/b", null)], records.Select(r => (r.Id, r.Caption)));
        Assert.All(records, r => Assert.Null(r.LabelName));
    }

    [Fact]
    public void A_jsonl_manifest_reads_paths_relative_to_itself_and_says_which_row_is_bad()
    {
        Write("m/img/a.jpg", Jpeg);
        var manifest = Write("m/list.jsonl", """
            {"path": "img/a.jpg", "caption": "a bag", "similarity": 0.28, "label": 8}
            {"path": "img/missing.jpg", "text": "a shoe"}
            {not json
            {"caption": "no path at all"}
            """);

        var (records, report) = ReadAll(manifest);

        Assert.Equal(["list.jsonl/img/a.jpg", "list.jsonl/img/missing.jpg", "list.jsonl/4"], records.Select(r => r.Id));
        Assert.Equal(Jpeg, records[0].Image);
        Assert.Equal((8, "a bag"), (records[0].Label!.Value, records[0].Caption));
        Assert.Equal(28, records[0].Score!.Value, 9);
        Assert.Null(records[1].Image); // sent: the ingress dead-letters it as missing its image
        Assert.Equal("a shoe", records[1].Caption);
        Assert.Equal(["row 2", "row 3", "row 4"], report.Problems.Select(p => p.Member));
        Assert.All(report.Problems, p => Assert.Equal(manifest, p.File));
    }

    [Fact]
    public void A_csv_manifest_with_quoted_captions_reads_as_the_jsonl_one()
    {
        Write("c/a.jpg", Jpeg);
        var manifest = Write("c/list.csv", "path,caption,score,label\r\na.jpg,\"a coat, \"\"long\"\"\",0.33,coat\r\na.jpg,only two\r\n");
        var (records, report) = ReadAll(manifest);
        var r = Assert.Single(records);
        Assert.Equal(("a coat, \"long\"", "coat"), (r.Caption, r.LabelName));
        Assert.Equal(Jpeg, r.Image);
        Assert.Null(r.Score); // the score field is similarity unless --score-field says score
        var p = Assert.Single(report.Problems);
        Assert.Equal("row 3", p.Member);
    }
}
