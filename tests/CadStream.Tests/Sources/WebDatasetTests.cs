using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using CadStream.Sources;

namespace CadStream.Tests.Sources;

/// <summary>The WebDataset reader stage by stage, on small shards written by each test in its own temp folder.</summary>
public sealed class WebDatasetTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("cad-wds-").FullName;
    public void Dispose() => Directory.Delete(dir, recursive: true);

    static readonly byte[] Jpeg0 = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3];
    static readonly byte[] Png1 = [0x89, 0x50, 0x4E, 0x47, 4, 5, 6];

    string Shard(string name, IEnumerable<(string Name, byte[] Data)> members, bool gzip = false)
    {
        var path = Path.Combine(dir, name);
        using var file = File.Create(path);
        using Stream body = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file;
        using var tar = new TarWriter(body, TarEntryFormat.Pax);
        foreach (var (n, data) in members)
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, n) { DataStream = new MemoryStream(data) });
        return path;
    }

    static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    static (string, byte[])[] TwoSamples =>
    [
        ("000/0001.jpg", Jpeg0), ("000/0001.txt", U(" a red coat \n")), ("000/0001.json", U("""{"caption": "ignored, the .txt wins", "similarity": 0.31}""")),
        ("000/0002.png", Png1), ("000/0002.cls", U("7")), ("000/0002.json", U("""{"caption": "a boot", "similarity": 0.25, "label": 3}""")),
    ];

    (List<CadStream.Records.PairRecord> Records, SourceReport Report) ReadAll(string path, FieldOptions? options = null)
    {
        var report = new SourceReport();
        var files = SourceFiles.Expand([path]);
        return ([.. SourceReading.Read(files, options ?? new FieldOptions(), report)], report);
    }

    [Fact]
    public void Members_are_grouped_by_key_into_records_with_stable_ids_and_the_image_bytes_as_they_are()
    {
        var (records, report) = ReadAll(Shard("shard-000.tar", TwoSamples));

        Assert.Equal(["shard-000.tar/000/0001", "shard-000.tar/000/0002"], records.Select(r => r.Id));
        Assert.Equal(Jpeg0, records[0].Image);
        Assert.Equal(Png1, records[1].Image);
        Assert.Equal("a red coat", records[0].Caption);
        Assert.Equal("a boot", records[1].Caption);
        Assert.Null(records[0].Label);
        Assert.Equal(7, records[1].Label); // .cls over the json's label
        Assert.Empty(report.Problems);
        Assert.Equal(1, report.FilesRead);
    }

    [Fact]
    public void Similarity_is_a_cosine_sent_on_the_clip_x100_scale_unless_the_scale_says_otherwise()
    {
        var path = Shard("s.tar", TwoSamples);
        Assert.Equal([31.0, 25.0], ReadAll(path).Records.Select(r => Math.Round(r.Score!.Value, 9)));
        Assert.Equal([0.31, 0.25], ReadAll(path, new FieldOptions(ScoreScale: ScoreScale.Clip100)).Records.Select(r => r.Score!.Value));
    }

    [Fact]
    public void A_named_score_field_missing_from_a_sample_is_one_problem_line_and_the_record_still_goes()
    {
        var path = Shard("s.tar", [("k1.jpg", Jpeg0), ("k1.json", U("""{"clip": 28.5}""")), ("k2.jpg", Jpeg0), ("k2.json", U("""{"similarity": 0.3}"""))]);
        var (records, report) = ReadAll(path, new FieldOptions(ScoreField: "clip", ScoreScale: ScoreScale.Clip100));
        Assert.Equal([28.5, null], records.Select(r => r.Score));
        var p = Assert.Single(report.Problems);
        Assert.Equal((path, "k2.json"), (p.File, p.Member));
        Assert.Contains("no score field 'clip'", p.Reason);
    }

    [Fact]
    public void A_gzipped_shard_reads_as_the_plain_one()
    {
        var plain = ReadAll(Shard("a.tar", TwoSamples)).Records;
        var gz = ReadAll(Shard("a.tar.gz", TwoSamples, gzip: true)).Records;
        Assert.Equal(plain.Select(r => (r.Id![5..], r.Caption, r.Label, r.Score)), gz.Select(r => (r.Id![8..], r.Caption, r.Label, r.Score)));
        Assert.Equal(plain.Select(r => r.Image), gz.Select(r => r.Image));
    }

    [Fact]
    public void A_truncated_shard_keeps_the_samples_before_the_cut_and_says_which_file_and_member_in_one_line()
    {
        var members = Enumerable.Range(0, 6).Select(i => ($"k{i}.jpg", new byte[3000])).ToArray();
        var path = Shard("cut.tar", members);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var (records, report) = ReadAll(path);

        Assert.InRange(records.Count, 1, 5);
        Assert.Equal(Enumerable.Range(0, records.Count).Select(i => $"cut.tar/k{i}"), records.Select(r => r.Id));
        var p = Assert.Single(report.Problems);
        Assert.Equal(path, p.File);
        Assert.Equal($"k{records.Count - 1}.jpg", p.Member);
        Assert.Contains("truncated", p.Reason);
        Assert.Equal((0, 1), (report.FilesRead, report.FilesFailed));
    }

    [Fact]
    public void A_key_without_an_image_or_with_an_empty_caption_is_still_sent_for_the_ingress_to_dead_letter_with_its_reason()
    {
        var path = Shard("s.tar", [("a.txt", U("no picture here")), ("b.jpg", Jpeg0), ("b.txt", U("   ")), ("c.json", U("{not json"))]);
        var (records, report) = ReadAll(path);
        Assert.Equal(["s.tar/a", "s.tar/b", "s.tar/c"], records.Select(r => r.Id));
        Assert.Null(records[0].Image);
        Assert.Equal("", records[1].Caption);
        var p = Assert.Single(report.Problems);
        Assert.Equal("c.json", p.Member);
        Assert.Contains("not JSON", p.Reason);
    }

    [Fact]
    public void Keys_split_at_the_first_dot_of_the_file_name_not_of_the_folder()
    {
        Assert.Equal(("dir.v2/abc", "seg.png"), SampleGroups.Split("dir.v2/abc.seg.png"));
        Assert.Equal(("abc", "jpg"), SampleGroups.Split("abc.JPG"));
    }

    [Fact]
    public void Globs_expand_sorted_and_a_path_naming_nothing_readable_is_one_clear_error()
    {
        Shard("b-1.tar", TwoSamples);
        Shard("b-0.tar", TwoSamples);
        File.WriteAllText(Path.Combine(dir, "notes.md"), "x");
        Assert.Equal(["b-0.tar", "b-1.tar"], SourceFiles.Expand([Path.Combine(dir, "b-*.tar")]).Select(f => f.Name));
        Assert.Contains("no such file or folder", Assert.Throws<ArgumentException>(() => SourceFiles.Expand([Path.Combine(dir, "none-*.tar")])).Message);
        Assert.Contains("unknown kind of file", Assert.Throws<ArgumentException>(() => SourceFiles.Expand([Path.Combine(dir, "notes.md")])).Message);
    }
}
