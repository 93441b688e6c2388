using CadStream.Data.Examples;

namespace CadStream.Evaluation.Metrics;

/// <summary>
/// Names the tint of an RGB image from its pixels: the circular mean of the hue of its coloured pixels, each
/// weighted by its chroma (max - min channel), then the nearest hue of <see cref="GarmentColours"/>. Black
/// background, grey and dark pixels carry no hue and weigh little or nothing, so only the garment votes.
/// </summary>
public static class ColourJudge
{
    /// <summary>Chroma (0..255) below which a pixel is taken as grey: JPEG noise and a near-black edge do not vote.</summary>
    public const int MinChroma = 24;

    /// <summary>The palette index of the image's tint, or -1 when too little of it is coloured to say (a grey or black image).</summary>
    /// <param name="chw">Channel-first 8-bit RGB: 3 x height x width, as a model's samples and the ingress's pixels are.</param>
    public static int Judge(ReadOnlySpan<byte> chw, int height, int width, double minColouredShare = 0.01)
    {
        int plane = height * width;
        if (chw.Length != 3 * plane) throw new ArgumentException($"expected 3 x {height} x {width} = {3 * plane} bytes, got {chw.Length}");
        double x = 0, y = 0;
        int coloured = 0;
        for (int i = 0; i < plane; i++)
        {
            int r = chw[i], g = chw[plane + i], b = chw[2 * plane + i];
            int max = Math.Max(r, Math.Max(g, b)), min = Math.Min(r, Math.Min(g, b)), chroma = max - min;
            if (chroma < MinChroma) continue;
            double hue = Hue(r, g, b, max, chroma) * Math.PI / 180;
            x += chroma * Math.Cos(hue);
            y += chroma * Math.Sin(hue);
            coloured++;
        }
        if (coloured < Math.Max(1, minColouredShare * plane) || x * x + y * y < 1e-9) return -1;
        return Nearest((Math.Atan2(y, x) * 180 / Math.PI + 360) % 360);
    }

    /// <summary>The palette index whose hue is nearest (around the circle) to <paramref name="hue"/> in degrees.</summary>
    public static int Nearest(double hue)
    {
        int best = 0;
        double bestDistance = double.MaxValue;
        for (int k = 0; k < GarmentColours.All.Count; k++)
        {
            double d = Math.Abs(hue - GarmentColours.All[k].Hue) % 360;
            d = Math.Min(d, 360 - d);
            if (d < bestDistance) (best, bestDistance) = (k, d);
        }
        return best;
    }

    static double Hue(int r, int g, int b, int max, int chroma)
    {
        double h = max == r ? (double)(g - b) / chroma : max == g ? 2 + (double)(b - r) / chroma : 4 + (double)(r - g) / chroma;
        return (h * 60 + 360) % 360;
    }
}
