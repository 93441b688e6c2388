using CadStream.Host.Cli;
using CadStream.Imaging;
using SkiaSharp;

/// <summary>
/// Draws docs/images/resize.png: a photo-like 16:9 scene (sky, sun, hills, a house, a fence of one-pixel
/// pickets) sent as a JPEG through the ingress conversion under each Resize policy, at a model's 64 px.
/// The fence shows the antialiasing: shrunk 3x it turns to an even tone instead of a moiré.
/// </summary>
sealed class ResizePicture : ICommand
{
    public string Name => "resize-picture";
    public string Summary => "Writes the picture of the Resize policies (center-crop, pad, stretch) for docs/interfaces.md.";
    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("out", "the PNG to write", "docs/images/resize.png", ValueName: "FILE"),
        new("size", "the model's side", "64", ValueName: "PX"),
    ];

    const int SceneWidth = 192, SceneHeight = 108, Scale = 2, Gap = 8, Caption = 18;

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        var output = a.String("out")!;
        int size = a.Int("size", 16, 128);
        var jpeg = Scene();
        var panels = new List<(string Title, SKBitmap Bitmap)> { ("photo 192x108", SKBitmap.Decode(jpeg)) };
        foreach (var (title, policy) in new[] { ("center-crop", ResizePolicy.CenterCrop), ("pad", ResizePolicy.Pad), ("stretch", ResizePolicy.Stretch) })
        {
            var chw = ImageConversion.FromEncoded(jpeg, "image", (3, size, size), new ImageLimits(4096, 1 << 20), out var reason, policy)
                ?? throw new InvalidOperationException(reason);
            panels.Add(($"{title} {size}x{size}", ToBitmap(chw, size)));
        }
        int height = SceneHeight * Scale + Caption + 2 * Gap;
        int width = Gap + panels.Sum(p => p.Bitmap.Width * Scale + Gap);
        using var picture = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(picture))
        using (var font = new SKFont(SKTypeface.Default, 13))
        using (var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true })
        {
            canvas.Clear(SKColors.White);
            int x = Gap;
            foreach (var (title, bitmap) in panels)
            {
                var rect = SKRect.Create(x, Gap, bitmap.Width * Scale, bitmap.Height * Scale);
                using (var image = SKImage.FromBitmap(bitmap)) canvas.DrawImage(image, rect, new SKSamplingOptions(SKFilterMode.Nearest));
                canvas.DrawText(title, x, Gap + SceneHeight * Scale + Caption - 4, font, ink);
                x += bitmap.Width * Scale + Gap;
                bitmap.Dispose();
            }
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        using (var data = picture.Encode(SKEncodedImageFormat.Png, 100)) File.WriteAllBytes(output, data.ToArray());
        Console.WriteLine($"wrote {output} ({new FileInfo(output).Length} bytes)");
        return 0;
    }

    /// <summary>The scene as a JPEG, the way a camera or img2dataset hands it over.</summary>
    static byte[] Scene()
    {
        using var bitmap = new SKBitmap(SceneWidth, SceneHeight);
        using (var canvas = new SKCanvas(bitmap))
        {
            using (var sky = new SKPaint { Shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(0, 70), [new SKColor(70, 130, 210), new SKColor(190, 220, 245)], SKShaderTileMode.Clamp) })
                canvas.DrawRect(0, 0, SceneWidth, SceneHeight, sky);
            using (var sun = new SKPaint { Color = new SKColor(255, 210, 60), IsAntialias = true }) canvas.DrawCircle(160, 22, 12, sun);
            using (var hills = new SKPaint { Color = new SKColor(70, 150, 60), IsAntialias = true })
            using (var path = new SKPath())
            {
                path.MoveTo(0, SceneHeight);
                for (int x = 0; x <= SceneWidth; x += 4) path.LineTo(x, 72 + 8 * MathF.Sin(x / 23f));
                path.LineTo(SceneWidth, SceneHeight);
                path.Close();
                canvas.DrawPath(path, hills);
            }
            using (var wall = new SKPaint { Color = new SKColor(200, 60, 50) }) canvas.DrawRect(84, 52, 26, 24, wall);
            using (var roof = new SKPaint { Color = new SKColor(90, 50, 40), IsAntialias = true })
            using (var path = new SKPath())
            {
                path.MoveTo(80, 53); path.LineTo(97, 38); path.LineTo(114, 53); path.Close();
                canvas.DrawPath(path, roof);
            }
            using (var picket = new SKPaint { Color = SKColors.White })
                for (int x = 4; x < 70; x += 2) canvas.DrawRect(x, 80, 1, 14, picket);
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 92);
        return data.ToArray();
    }

    static SKBitmap ToBitmap(byte[] chw, int size)
    {
        var bitmap = new SKBitmap(size, size);
        int plane = size * size;
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                int i = y * size + x;
                bitmap.SetPixel(x, y, new SKColor(chw[i], chw[plane + i], chw[2 * plane + i]));
            }
        return bitmap;
    }
}
