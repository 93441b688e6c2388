using SkiaSharp;

namespace CadStream.Imaging;

/// <summary>Pictures of 8-bit images (N x C x H x W, channel-first, row-major): one PNG grid.</summary>
public static class ImageGrid
{
    /// <summary>
    /// One PNG holding all images in a grid of the given column count (row = image index / columns),
    /// each scaled up by an integer factor, with a thin separator. 1 channel is grey, 3 are RGB.
    /// </summary>
    public static byte[] EncodePng(byte[] pixels, int count, int channels, int height, int width, int columns, int scale = 2, int gap = 2)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"expected 1 or 3 channels (got {channels})");
        if (pixels.LongLength != (long)count * channels * height * width)
            throw new ArgumentException($"expected {count}x{channels}x{height}x{width} bytes, got {pixels.LongLength}");
        int n = count, c = channels, h = height, w = width;
        columns = Math.Max(1, Math.Min(columns, n));
        int rows = (n + columns - 1) / columns;
        int cellW = w * scale, cellH = h * scale;
        int outW = columns * cellW + (columns + 1) * gap, outH = rows * cellH + (rows + 1) * gap;
        using var bitmap = new SKBitmap(outW, outH, SKColorType.Rgba8888, SKAlphaType.Opaque);
        bitmap.Erase(new SKColor(40, 40, 40));
        int plane = h * w;
        for (int i = 0; i < n; i++)
        {
            int ox = gap + (i % columns) * (cellW + gap), oy = gap + (i / columns) * (cellH + gap);
            int baseIdx = i * c * plane;
            for (int y = 0; y < cellH; y++)
                for (int x = 0; x < cellW; x++)
                {
                    int p = (y / scale) * w + (x / scale);
                    byte r = pixels[baseIdx + p];
                    byte g = c == 3 ? pixels[baseIdx + plane + p] : r;
                    byte b = c == 3 ? pixels[baseIdx + 2 * plane + p] : r;
                    bitmap.SetPixel(ox + x, oy + y, new SKColor(r, g, b));
                }
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
