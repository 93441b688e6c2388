using System.Formats.Tar;
using System.Text;
using System.Text.Json;
using SkiaSharp;

namespace CadStream.Data.Examples;

/// <summary>One of the eight named tints of the worked RGB example, by its hue in degrees.</summary>
public sealed record GarmentColour(string Name, double Hue)
{
    /// <summary>The fully saturated, full-value colour of this hue (the tint a white pixel becomes).</summary>
    public (byte R, byte G, byte B) Rgb => Hsv.ToRgb(Hue, 1.0, 1.0);
}

/// <summary>The example's palette: hues at least 30 degrees apart, so a judge can tell them from pixels alone.</summary>
public static class GarmentColours
{
    public static IReadOnlyList<GarmentColour> All { get; } =
    [
        new("red", 0), new("orange", 30), new("yellow", 60), new("green", 120),
        new("cyan", 180), new("blue", 225), new("purple", 275), new("pink", 320),
    ];

    /// <summary>Singular garment nouns for Fashion-MNIST's classes, as a caption names one ("a red sneaker").</summary>
    public static IReadOnlyList<string> Garments { get; } =
        ["t-shirt", "pair of trousers", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"];

    /// <summary>"a red sneaker", "an orange coat".</summary>
    public static string Caption(int colour, int garment)
    {
        var name = All[colour].Name;
        return $"{("aeiou".Contains(name[0]) ? "an" : "a")} {name} {Garments[garment]}";
    }
}

/// <summary>Hue, saturation, value to RGB and back (hue in degrees, the rest in [0, 1]).</summary>
public static class Hsv
{
    public static (byte R, byte G, byte B) ToRgb(double hue, double saturation, double value)
    {
        double c = value * saturation, h = ((hue % 360) + 360) % 360 / 60, x = c * (1 - Math.Abs(h % 2 - 1)), m = value - c;
        var (r, g, b) = (int)h switch { 0 => (c, x, 0.0), 1 => (x, c, 0.0), 2 => (0.0, c, x), 3 => (0.0, x, c), 4 => (x, 0.0, c), _ => (c, 0.0, x) };
        static byte B(double v) => (byte)Math.Clamp(Math.Round(v * 255), 0, 255);
        return (B(r + m), B(g + m), B(b + m));
    }
}

/// <summary>What the generator knows of one sample: the tint and garment drawn, and the caption written.</summary>
public sealed record TintedGarment(string Key, int Colour, int Garment, int CaptionColour, int CaptionGarment, string Caption, double Similarity)
{
    public bool CaptionIsWrong => Colour != CaptionColour || Garment != CaptionGarment;
}

/// <summary>
/// Writes the worked RGB example as img2dataset writes a WebDataset: tar shards of KEY.jpg, KEY.txt (the caption)
/// and KEY.json (caption, similarity, size, status, and the generator's truth). Each image is a Fashion-MNIST
/// garment tinted in one of <see cref="GarmentColours"/> (the grey level times the tint, on black), upscaled
/// and encoded as JPEG. A share <c>wrong</c> of the captions name the wrong colour, the wrong garment, or both,
/// and <c>similarity</c> is a CLIP-like raw cosine: LAION's scale, right captions higher but overlapping the wrong ones,
/// so coherence has to be learnt from a noisy score, as with real data.
/// </summary>
public sealed class TintedGarmentWriter(FashionMnist source, int size = 64, int quality = 90)
{
    // Raw cosine as CLIP ViT-B/32 gives (LAION-400M kept pairs above 0.3): means by how much of the caption is right.
    const double RightMean = 0.315, OneWrongMean = 0.265, BothWrongMean = 0.225, Spread = 0.03;

    /// <summary>Writes <paramref name="count"/> samples into shards of <paramref name="perShard"/> under <paramref name="folder"/>; returns what was written.</summary>
    public IReadOnlyList<TintedGarment> Write(string folder, int count, double wrong, int seed, int perShard = 1000)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), "count must be at least 1");
        if (wrong is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(wrong), "wrong is a share in [0, 1]");
        Directory.CreateDirectory(folder);
        var random = new Random(seed);
        // Exactly round(wrong x count) wrong captions, placed at random: the stated share is the share written.
        var isWrong = new bool[count];
        foreach (var i in Enumerable.Range(0, count).OrderBy(_ => random.Next()).Take((int)Math.Round(wrong * count))) isWrong[i] = true;
        var written = new List<TintedGarment>(count);
        for (int shard = 0; shard * perShard < count; shard++)
        {
            using var file = File.Create(Path.Combine(folder, $"{shard:D5}.tar"));
            using var tar = new TarWriter(file, TarEntryFormat.Ustar, leaveOpen: false);
            for (int i = shard * perShard; i < Math.Min(count, (shard + 1) * perShard); i++)
            {
                int index = random.Next(source.Count), garment = source.Labels[index], colour = random.Next(GarmentColours.All.Count);
                var (captionColour, captionGarment) = isWrong[i] ? Mislead(random, colour, garment) : (colour, garment);
                int wrongParts = (captionColour != colour ? 1 : 0) + (captionGarment != garment ? 1 : 0);
                double mean = wrongParts switch { 0 => RightMean, 1 => OneWrongMean, _ => BothWrongMean };
                double similarity = Math.Round(Math.Clamp(mean + Spread * Gaussian(random), 0.05, 0.45), 4);
                var sample = new TintedGarment($"{shard:D5}{i - shard * perShard:D4}", colour, garment, captionColour, captionGarment,
                    GarmentColours.Caption(captionColour, captionGarment), similarity);
                var jpeg = Jpeg(source.Pixels.AsSpan(index * FashionMnist.ImageBytes, FashionMnist.ImageBytes), GarmentColours.All[colour]);
                Add(tar, sample.Key + ".jpg", jpeg);
                Add(tar, sample.Key + ".txt", Encoding.UTF8.GetBytes(sample.Caption));
                Add(tar, sample.Key + ".json", JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
                {
                    ["key"] = sample.Key, ["caption"] = sample.Caption, ["similarity"] = sample.Similarity,
                    ["width"] = size, ["height"] = size, ["status"] = "success",
                    ["true_colour"] = GarmentColours.All[colour].Name, ["true_garment"] = GarmentColours.Garments[garment],
                }));
                written.Add(sample);
            }
        }
        return written;
    }

    /// <summary>A wrong caption: the colour, the garment, or both replaced by another, a third each.</summary>
    static (int Colour, int Garment) Mislead(Random random, int colour, int garment)
    {
        int kind = random.Next(3);
        int otherColour = (colour + 1 + random.Next(GarmentColours.All.Count - 1)) % GarmentColours.All.Count;
        int otherGarment = (garment + 1 + random.Next(FashionMnist.NumClasses - 1)) % FashionMnist.NumClasses;
        return kind switch { 0 => (otherColour, garment), 1 => (colour, otherGarment), _ => (otherColour, otherGarment) };
    }

    /// <summary>The grey garment times the tint, scaled to size x size (linear filtering) and encoded as JPEG.</summary>
    public byte[] Jpeg(ReadOnlySpan<byte> grey, GarmentColour colour)
    {
        var (r, g, b) = colour.Rgb;
        using var small = new SKBitmap(new SKImageInfo(FashionMnist.Side, FashionMnist.Side, SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (int y = 0; y < FashionMnist.Side; y++)
            for (int x = 0; x < FashionMnist.Side; x++)
            {
                int v = grey[y * FashionMnist.Side + x];
                small.SetPixel(x, y, new SKColor((byte)(r * v / 255), (byte)(g * v / 255), (byte)(b * v / 255)));
            }
        using var large = small.Resize(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque), new SKSamplingOptions(SKFilterMode.Linear));
        using var data = large.Encode(SKEncodedImageFormat.Jpeg, quality);
        return data.ToArray();
    }

    // A fixed time and ustar (no pax atime/ctime records): the same seed writes the same bytes.
    static readonly DateTimeOffset Written = new(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);

    static void Add(TarWriter tar, string name, byte[] content) =>
        tar.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content), ModificationTime = Written });

    static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
