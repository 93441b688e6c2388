using SkiaSharp;

namespace CadStream.Imaging;

/// <summary>PNG files of 8-bit pixels.</summary>
public static class Png
{
    static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>
    /// The width and height a PNG declares in its IHDR chunk (the first chunk, right after the
    /// signature), read from 24 bytes without decoding anything; null when the bytes are not a PNG.
    /// </summary>
    public static (long Width, long Height)? ReadSize(ReadOnlySpan<byte> file)
    {
        // Signature (8), chunk length (4), "IHDR" (4), width (4, big-endian), height (4).
        if (file.Length < 24 || !file[..8].SequenceEqual(Signature) || !file[12..16].SequenceEqual("IHDR"u8)) return null;
        return (System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(file[16..20]),
                System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(file[20..24]));
    }

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
