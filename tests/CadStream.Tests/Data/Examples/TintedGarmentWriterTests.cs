using System.Formats.Tar;
using System.Text;
using System.Text.Json;
using CadStream.Data;
using CadStream.Data.Examples;
using CadStream.Evaluation.Metrics;
using CadStream.Imaging;

namespace CadStream.Tests.Data.Examples;

/// <summary>The worked RGB example's shards, read back as a WebDataset reader sees them (members grouped by key).</summary>
public sealed class TintedGarmentWriterTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("cadstream-rgb-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static Dictionary<string, Dictionary<string, byte[]>> ReadShard(string path)
    {
        var samples = new Dictionary<string, Dictionary<string, byte[]>>();
        using var reader = new TarReader(File.OpenRead(path));
        while (reader.GetNextEntry() is { } entry)
        {
            int dot = entry.Name.IndexOf('.');
            using var content = new MemoryStream();
            entry.DataStream!.CopyTo(content);
            var key = entry.Name[..dot];
            if (!samples.TryGetValue(key, out var members)) samples[key] = members = [];
            members.Add(entry.Name[(dot + 1)..], content.ToArray());
        }
        return samples;
    }

    [Fact]
    public void Shards_hold_a_jpeg_caption_and_json_per_key_with_the_stated_share_of_wrong_captions()
    {
        const int count = 250, perShard = 100, size = 64;
        var written = new TintedGarmentWriter(RealData.Train, size).Write(_dir, count, wrong: 0.3, seed: 7, perShard);

        var shards = Directory.GetFiles(_dir).Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(["00000.tar", "00001.tar", "00002.tar"], shards);
        var samples = shards.SelectMany(s => ReadShard(Path.Combine(_dir, s!))).ToArray();
        Assert.Equal(count, samples.Length);
        Assert.Equal(count, samples.Select(s => s.Key).Distinct().Count());

        int wrong = 0, colourJudgedRight = 0;
        var right = new List<double>();
        var misled = new List<double>();
        foreach (var (key, members) in samples)
        {
            Assert.Equal(["jpg", "json", "txt"], members.Keys.Order());
            var caption = Encoding.UTF8.GetString(members["txt"]);
            using var json = JsonDocument.Parse(members["json"]);
            var root = json.RootElement;
            Assert.Equal(caption, root.GetProperty("caption").GetString());
            Assert.Equal(key, root.GetProperty("key").GetString());
            double similarity = root.GetProperty("similarity").GetDouble();
            Assert.InRange(similarity, 0.05, 0.45);

            // The caption parsed back against the generator's truth, not against its own flag.
            var words = caption.Split(' ', 3);
            Assert.Contains(words[0], new[] { "a", "an" });
            bool colourRight = words[1] == root.GetProperty("true_colour").GetString();
            bool garmentRight = words[2] == root.GetProperty("true_garment").GetString();
            Assert.Contains(words[1], GarmentColours.All.Select(c => c.Name));
            Assert.Contains(words[2], GarmentColours.Garments);
            bool isWrong = !(colourRight && garmentRight);
            if (isWrong) wrong++;
            (isWrong ? misled : right).Add(similarity);

            var pixels = ImageConversion.FromEncoded(members["jpg"], "image", (3, 32, 32), new ImageLimits(1024, 1 << 20), out var reason);
            Assert.True(pixels is not null, reason);
            int judged = ColourJudge.Judge(pixels, 32, 32);
            if (judged >= 0 && GarmentColours.All[judged].Name == root.GetProperty("true_colour").GetString()) colourJudgedRight++;
        }
        Assert.Equal(75, wrong);
        Assert.Equal(75, written.Count(w => w.CaptionIsWrong));
        // CLIP-like: right captions score higher on average, on LAION's raw-cosine scale, with overlap.
        Assert.InRange(right.Average(), 0.29, 0.34);
        Assert.InRange(misled.Average(), 0.20, 0.28);
        Assert.True(misled.Max() > right.Min(), "the scores of right and wrong captions should overlap, as CLIP's do");
        // The tint survives JPEG and the ingress's downscale: the judge reads it back from pixels.
        Assert.True(colourJudgedRight >= 0.97 * count, $"the colour judge named the written tint for {colourJudgedRight} of {count}");
    }

    [Fact]
    public void The_same_seed_writes_the_same_shards()
    {
        var a = new TintedGarmentWriter(RealData.Train).Write(Path.Combine(_dir, "a"), 20, 0.5, seed: 3);
        var b = new TintedGarmentWriter(RealData.Train).Write(Path.Combine(_dir, "b"), 20, 0.5, seed: 3);
        Assert.Equal(a, b);
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "a", "00000.tar")), File.ReadAllBytes(Path.Combine(_dir, "b", "00000.tar")));
    }
}
