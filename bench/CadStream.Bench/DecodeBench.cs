using System.Diagnostics;
using CadStream.Catalog;
using CadStream.Host.Cli;
using CadStream.Ingress;
using CadStream.Records;
using SkiaSharp;

/// <summary>
/// Ingest decode and validate on one core: JSON records carrying a 256 x 256 JPEG in `image`, through the ingress's own
/// PairDecoder (record parsing, the codec's header bound, decoding, EXIF orientation, the model's Resize policy with the
/// antialiased resampler, validation) to a 32 x 32 RGB model's pixels. The anchor is SkiaSharp's bare full-size decode of
/// the same JPEGs in the same run.
/// </summary>
sealed class DecodeBench : ICommand
{
    public string Name => "decode";
    public string Summary => "Pairs/s per core of ingest decode+validate of 256x256 JPEG records to a 32x32 RGB model, against Skia's bare decode (the anchor).";
    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("count", "records decoded per measurement", "5000", ValueName: "N"),
        new("side", "side of the JPEGs", "256", ValueName: "PX"),
        new("size", "the model's side", "32", ValueName: "PX"),
        new("resize", "the model's Resize policy", "center-crop", ValueName: "POLICY"),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        int count = a.Int("count", 10, 10_000_000), side = a.Int("side", 16, 4096), size = a.Int("size", 8, 128);
        var spec = CadStream.Host.Configuration.CadStreamSettings.Complete(new ModelSpec
            { Id = "rgb", Dataset = CadStream.Data.FashionMnist.DatasetName, Channels = 3, ImageSize = size, Resize = a.RequireString("resize") });
        var decoder = new PairDecoder(new ModelCatalog([spec]));
        // 64 distinct photo-like JPEGs (shapes, gradients and noise: no flat areas a codec would skip through).
        var jpegs = Enumerable.Range(0, 64).Select(i => Photo(side, i)).ToArray();
        var records = jpegs.Select((j, i) => PairRecords.ToJson(new PairRecord { Id = $"bench-{i}", Model = spec.Id, Image = j, Label = i % 10 })).ToArray();
        Console.WriteLine($"# {Environment.ProcessorCount} cores; {jpegs.Length} JPEGs of {side}x{side}, mean {jpegs.Average(j => j.Length) / 1024:F1} KiB, records of mean {records.Average(r => r.Length) / 1024:F1} KiB; model {size}x{size}x3, Resize {spec.Resize}");

        var position = new RecordPosition("bench", 0, 0);
        for (int i = 0; i < 200; i++) Check(decoder.Decode(records[i % records.Length], PairRecords.JsonContentType, position));
        double ours = Rate(count, i => Check(decoder.Decode(records[i % records.Length], PairRecords.JsonContentType, position)));
        double bare = Rate(count, i => { using var bitmap = SKBitmap.Decode(jpegs[i % jpegs.Length]); });
        // The floor of the path: Skia's decode at the scaled size the ingress asks for, nothing else.
        double scaled = Rate(count, i =>
        {
            using var codec = SKCodec.Create(new MemoryStream(jpegs[i % jpegs.Length]));
            var dims = codec.GetScaledDimensions(1f / 8);
            using var bitmap = new SKBitmap(new SKImageInfo(Math.Max(dims.Width, size), Math.Max(dims.Height, size), SKColorType.Rgba8888, SKAlphaType.Premul));
            codec.GetPixels(bitmap.Info, bitmap.GetPixels());
        });
        double parse = Rate(count, i => PairRecords.Decode(records[i % records.Length], PairRecords.JsonContentType, out _));
        Console.WriteLine($"json_record_parse_per_second_one_core {parse:F0}");
        Console.WriteLine($"skia_full_decode_per_second_one_core {bare:F0}");
        Console.WriteLine($"skia_scaled_decode_per_second_one_core {scaled:F0}");
        Console.WriteLine($"ingest_decode_validate_pairs_per_second_one_core {ours:F0}");
        Console.WriteLine($"ingest_over_skia_full_decode {ours / bare:F3}");
        Console.WriteLine($"goal_5000_per_core {(ours >= 5000 ? "met" : "not met")}");
        return 0;
    }

    static void Check(PairDecodeResult result)
    {
        if (result.Pair is null) throw new InvalidOperationException($"the bench's record was refused: {result.Rejection}");
    }

    /// <summary>Calls per second of <paramref name="work"/> on this thread (one core), best of three runs of count / 3.</summary>
    static double Rate(int count, Action<int> work)
    {
        double best = 0;
        int each = Math.Max(1, count / 3);
        for (int run = 0; run < 3; run++)
        {
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < each; i++) work(i);
            best = Math.Max(best, each / clock.Elapsed.TotalSeconds);
        }
        return best;
    }

    static byte[] Photo(int side, int seed)
    {
        var random = new Random(seed);
        using var bitmap = new SKBitmap(side, side);
        using (var canvas = new SKCanvas(bitmap))
        {
            using var sky = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(side, side),
                [new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)), new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256))],
                SKShaderTileMode.Clamp);
            using var paint = new SKPaint { Shader = sky };
            canvas.DrawRect(0, 0, side, side, paint);
            using var fill = new SKPaint { IsAntialias = true };
            for (int k = 0; k < 12; k++)
            {
                fill.Color = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256), 200);
                canvas.DrawCircle(random.Next(side), random.Next(side), random.Next(side / 16, side / 4), fill);
            }
        }
        // Sensor-like noise.
        var pixels = bitmap.Pixels;
        for (int i = 0; i < pixels.Length; i++)
        {
            int n = random.Next(-12, 13);
            var p = pixels[i];
            pixels[i] = new SKColor((byte)Math.Clamp(p.Red + n, 0, 255), (byte)Math.Clamp(p.Green + n, 0, 255), (byte)Math.Clamp(p.Blue + n, 0, 255));
        }
        bitmap.Pixels = pixels;
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }
}
