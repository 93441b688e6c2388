using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using CadStream.Imaging;
using CadStream.Ingress;
using CadStream.Records;
using SkiaSharp;
using CadStream.Catalog;

namespace CadStream.Tests.Ingress;

/// <summary>Pairs and images for the ingress tests.</summary>
public static class IngressTestKit
{
    public static ModelCatalog Catalog { get; } = new([CadStream.Tests.Model.TestModels.Fashion("fashion-cad")]);

    public static PairDecoder TestDecoder { get; } = new(Catalog);

    /// <summary>Asserts the decoder accepted the record; returns the pair.</summary>
    public static IncomingPair Accepted(PairDecodeResult r)
    {
        Assert.True(r.IsAccepted, r.Rejection);
        return r.Pair!;
    }

    /// <summary>Asserts the decoder refused the record; returns its reason.</summary>
    public static string Rejected(PairDecodeResult r)
    {
        Assert.False(r.IsAccepted, "expected a rejection");
        return r.Rejection!;
    }

    /// <summary>28x28 grey pixels with a seeded pattern.</summary>
    public static byte[] GreyPixels(int seed, int width = 28, int height = 28)
    {
        var rng = new Random(seed);
        var p = new byte[width * height];
        rng.NextBytes(p);
        return p;
    }

    public static byte[] GoodJson(string id, int label = 3, double coherence = 0.8, int seed = 1) =>
        PairRecords.ToJson(new PairRecord
        {
            Id = id,
            ImagePng = Png.Encode(GreyPixels(seed), 28, 28),
            Label = label,
            Coherence = coherence,
        });

    /// <summary>
    /// A decompression bomb, written byte by byte: a valid 8-bit grey PNG declaring width x height. With
    /// <paramref name="rows"/> null its zlib stream holds every row (all black, so 4096 x 4096 = 16 MiB of
    /// pixels compresses to ~16 KiB and decodes completely); with a number it holds only that many rows
    /// (a 20000 x 20000 header over a few bytes of data).
    /// </summary>
    public static byte[] BombPng(int width, int height, int? rows = null)
    {
        using var file = new MemoryStream();
        file.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(0), (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)height);
        ihdr[8] = 8;   // bit depth
        ihdr[9] = 0;   // colour type: grey; compression, filter and interlace 0
        Chunk(file, "IHDR", ihdr);
        using (var idat = new MemoryStream())
        {
            using (var z = new ZLibStream(idat, CompressionLevel.SmallestSize, leaveOpen: true))
            {
                var row = new byte[width + 1];  // filter byte 0, then black pixels
                for (int y = 0; y < (rows ?? height); y++) z.Write(row);
            }
            Chunk(file, "IDAT", idat.ToArray());
        }
        Chunk(file, "IEND", []);
        return file.ToArray();
    }

    static void Chunk(Stream file, string type, byte[] data)
    {
        Span<byte> number = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(number, (uint)data.Length);
        file.Write(number);
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        file.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(number, Crc32(typed));
        file.Write(number);
    }

    /// <summary>PNG's CRC-32 (ISO 3309) over the chunk type and data.</summary>
    static uint Crc32(byte[] bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>A PNG of the given size filled with one colour (alpha type as given).</summary>
    public static byte[] SolidPng(int width, int height, SKColor colour, SKColorType type = SKColorType.Rgba8888, SKAlphaType alpha = SKAlphaType.Unpremul)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, type, alpha));
        bitmap.Erase(colour);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
