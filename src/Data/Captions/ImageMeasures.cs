namespace CadStream.Data.Captions;

/// <summary>A look of the image a caption may mention, measured from its pixels.</summary>
public enum ImageAttribute { Dark, Light, Small, Large, Tall, Wide, Open, Solid }

/// <summary>
/// What a caption's attribute words are measured from, on a grey image whose object is brighter than
/// its background (Fashion-MNIST): the foreground is every pixel at or above <see cref="ForegroundLevel"/>.
/// Brightness is the foreground's mean (0..1), Coverage the bounding box's share of the image, Fill the
/// foreground's share of its bounding box, Aspect the box's width over its height.
/// </summary>
public sealed record ImageMeasures(double Brightness, double Coverage, double Fill, double Aspect)
{
    public const byte ForegroundLevel = 24;

    // Cut points near the quartiles of the Fashion-MNIST training set (brightness 0.51 / 0.75,
    // coverage 0.50 / 0.79, fill 0.61 / 0.81; aspect 0.43 / 2.15 at 10% / 90%), so each word is
    // said of roughly a quarter of the images or less and the middle gets no word.
    public const double DarkBelow = 0.50, LightAbove = 0.75;
    public const double SmallBelow = 0.50, LargeAbove = 0.80;
    public const double TallBelow = 0.60, WideAbove = 1.60;
    public const double OpenBelow = 0.55, SolidAbove = 0.83;

    /// <summary>Measures a row-major grey image of width x height bytes.</summary>
    public static ImageMeasures Measure(ReadOnlySpan<byte> pixels, int width, int height)
    {
        if (width < 1 || height < 1 || pixels.Length != width * height)
            throw new ArgumentException($"expected {width}x{height} = {width * height} grey pixels, got {pixels.Length}");
        int r0 = height, r1 = -1, c0 = width, c1 = -1, count = 0;
        long sum = 0;
        for (int r = 0; r < height; r++)
            for (int c = 0; c < width; c++)
            {
                byte v = pixels[r * width + c];
                if (v < ForegroundLevel) continue;
                count++;
                sum += v;
                if (r < r0) r0 = r;
                if (r > r1) r1 = r;
                if (c < c0) c0 = c;
                if (c > c1) c1 = c;
            }
        if (count == 0) return new ImageMeasures(0, 0, 0, 1); // a blank image: dark, no extent
        int h = r1 - r0 + 1, w = c1 - c0 + 1;
        return new ImageMeasures(sum / (255.0 * count), (double)h * w / (width * height), (double)count / (h * w), (double)w / h);
    }

    /// <summary>The attributes these measures support, at most one per pair (dark/light, small/large, tall/wide, open/solid).</summary>
    public IReadOnlyList<ImageAttribute> Attributes()
    {
        var a = new List<ImageAttribute>(4);
        if (Coverage > 0 && Coverage < SmallBelow) a.Add(ImageAttribute.Small);
        else if (Coverage > LargeAbove) a.Add(ImageAttribute.Large);
        if (Coverage > 0 && Fill < OpenBelow) a.Add(ImageAttribute.Open);
        else if (Fill > SolidAbove) a.Add(ImageAttribute.Solid);
        if (Coverage > 0 && Aspect < TallBelow) a.Add(ImageAttribute.Tall);
        else if (Aspect > WideAbove) a.Add(ImageAttribute.Wide);
        if (Brightness < DarkBelow) a.Add(ImageAttribute.Dark);
        else if (Brightness > LightAbove) a.Add(ImageAttribute.Light);
        return a;
    }
}
