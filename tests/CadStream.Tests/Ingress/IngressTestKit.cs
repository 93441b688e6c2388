using CadStream.Imaging;
using CadStream.Ingress;
using CadStream.Ingress.Producing;
using CadStream.Records;
using CadStream.Model;
using SkiaSharp;

namespace CadStream.Tests.Ingress;

/// <summary>Pairs and images for the ingress tests.</summary>
public static class IngressTestKit
{
    public static ModelCatalog Catalog { get; } = new([CadStream.Tests.Model.TestModels.Fashion("fashion-cad")]);

    public static PairDecoder TestDecoder { get; } = new(Catalog);

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

    /// <summary>A PNG of the given size filled with one colour (alpha type as given).</summary>
    public static byte[] SolidPng(int width, int height, SKColor colour, SKColorType type = SKColorType.Rgba8888, SKAlphaType alpha = SKAlphaType.Unpremul)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, type, alpha));
        bitmap.Erase(colour);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
