using System.Buffers.Binary;
using CadStream.Imaging;
using SkiaSharp;
using CadStream.Tests.Ingress;

namespace CadStream.Tests.Imaging;

/// <summary>
/// A decompression bomb in each format: a small file whose header declares far more pixels than allowed. It
/// must be refused from the header alone, before a pixel buffer is allocated or a pixel decoded.
/// </summary>
public sealed class ImageBombTests
{
    // The side limit out of the way, so the pixel limit (1 Mpx, the default) is what refuses each one.
    static readonly ImageLimits Limits = new(MaxSide: 1 << 16, MaxPixels: 1 << 20);

    public static TheoryData<string, int, int> Bombs() => new()
    {
        { "png", 20000, 20000 },
        { "jpeg", 40000, 30000 },
        { "webp", 16000, 12000 },
        { "gif", 60000, 50000 },
        { "bmp", 50000, 40000 },
    };

    [Theory]
    [MemberData(nameof(Bombs))]
    public void A_bomb_is_refused_from_its_header_before_any_pixel_is_allocated(string format, int width, int height)
    {
        var bomb = Bomb(format, width, height);
        Assert.True(bomb.Length < 4096, $"{format} bomb is {bomb.Length} bytes");
        using (var codec = SKCodec.Create(SKData.CreateCopy(bomb)))
        {
            Assert.True(codec is not null, $"Skia does not read the {format} bomb's header");
            Assert.Equal((width, height), (codec!.Info.Width, codec.Info.Height));
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        var pixels = ImageConversion.FromEncoded(bomb, "image", (3, 32, 32), Limits, out var reason);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Null(pixels);
        Assert.Equal($"image {width}x{height} declares {(long)width * height} pixels, more than the {1 << 20} allowed (Ingress:MaxPixels)", reason);
        // Decoding would need width x height x 4 bytes (gigabytes); refusing needs a copy of the file and a little more.
        Assert.True(allocated < 256 * 1024, $"{format}: {allocated} bytes allocated while refusing");
    }

    static byte[] Bomb(string format, int width, int height) => format switch
    {
        "png" => IngressTestKit.BombPng(width, height, rows: 1),
        "jpeg" => JpegBomb(width, height),
        "webp" => WebpBomb(width, height),
        "gif" => GifBomb(width, height),
        "bmp" => BmpBomb(width, height),
        _ => throw new ArgumentException(format),
    };

    static byte[] Encoded(SKEncodedImageFormat format)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(8, 8, SKColorType.Rgba8888, SKAlphaType.Opaque));
        bitmap.Erase(SKColors.Gray);
        using var data = bitmap.Encode(format, 80);
        return data.ToArray();
    }

    /// <summary>A real 8 x 8 JPEG whose frame header (SOF0) is rewritten to declare width x height.</summary>
    static byte[] JpegBomb(int width, int height)
    {
        var jpeg = Encoded(SKEncodedImageFormat.Jpeg);
        int sof = Find(jpeg, [0xFF, 0xC0]);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 5), (ushort)height);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 7), (ushort)width);
        return jpeg;
    }

    /// <summary>A real 8 x 8 lossy WebP whose VP8 key frame header (after the start code 9D 01 2A) declares width x height.</summary>
    static byte[] WebpBomb(int width, int height)
    {
        var webp = Encoded(SKEncodedImageFormat.Webp);
        int start = Find(webp, [0x9D, 0x01, 0x2A]);
        BinaryPrimitives.WriteUInt16LittleEndian(webp.AsSpan(start + 3), (ushort)width);   // 14 bits of size, 2 of scale (0)
        BinaryPrimitives.WriteUInt16LittleEndian(webp.AsSpan(start + 5), (ushort)height);
        int vp8x = IndexOf(webp, "VP8X"u8.ToArray());
        if (vp8x >= 0)
        {
            // The extended header's canvas (24-bit sides minus one) must agree with the frame.
            WriteUInt24(webp, vp8x + 12, width - 1);
            WriteUInt24(webp, vp8x + 15, height - 1);
        }
        return webp;
    }

    /// <summary>A GIF written byte by byte: a logical screen and one image of width x height, with one pixel of data.</summary>
    static byte[] GifBomb(int width, int height)
    {
        using var f = new MemoryStream();
        f.Write("GIF89a"u8);
        WriteUInt16(f, width); WriteUInt16(f, height);
        f.Write([0x80, 0, 0]);                         // a global colour table of 2 entries
        f.Write([0, 0, 0, 255, 255, 255]);
        f.WriteByte(0x2C);                             // image descriptor
        WriteUInt16(f, 0); WriteUInt16(f, 0); WriteUInt16(f, width); WriteUInt16(f, height);
        f.WriteByte(0);
        f.Write([0x02, 0x02, 0x44, 0x01, 0x00]);       // LZW data of one pixel
        f.WriteByte(0x3B);
        return f.ToArray();
    }

    /// <summary>A BMP written byte by byte: 24-bit, width x height declared, a few bytes of pixel data.</summary>
    static byte[] BmpBomb(int width, int height)
    {
        var bmp = new byte[14 + 40 + 64];
        "BM"u8.CopyTo(bmp);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(2), bmp.Length);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), height);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(28), 24);
        return bmp;
    }

    static void WriteUInt16(Stream s, int v) { s.WriteByte((byte)v); s.WriteByte((byte)(v >> 8)); }

    static void WriteUInt24(byte[] b, int at, int v) { b[at] = (byte)v; b[at + 1] = (byte)(v >> 8); b[at + 2] = (byte)(v >> 16); }

    static int Find(byte[] haystack, byte[] needle) =>
        IndexOf(haystack, needle) is var i and >= 0 ? i : throw new Xunit.Sdk.XunitException($"marker {Convert.ToHexString(needle)} not found");

    static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);
}
