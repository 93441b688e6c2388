using SkiaSharp;

namespace CadStream.Imaging;

/// <summary>PNG files of 8-bit pixels.</summary>
public static class Png
{
    /// <summary>Encodes grey (1 channel) or RGB (3, interleaved) row-major pixels as a PNG.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> pixels, int width, int height, int channels = 1)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), "1 (grey) or 3 (RGB) channels");
        if (pixels.Length != width * height * channels)
            throw new ArgumentException($"expected {width * height * channels} bytes for {width}x{height}x{channels}, got {pixels.Length}");
        var info = new SKImageInfo(width, height, channels == 1 ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        var dst = bitmap.GetPixelSpan();
        if (channels == 1) pixels.CopyTo(dst);
        else
            for (int i = 0; i < width * height; i++)
            {
                dst[i * 4] = pixels[i * 3];
                dst[i * 4 + 1] = pixels[i * 3 + 1];
                dst[i * 4 + 2] = pixels[i * 3 + 2];
                dst[i * 4 + 3] = 255;
            }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
