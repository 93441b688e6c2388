using System.Text;
using CadStream.Catalog;
using CadStream.Imaging;
using CadStream.Ingress;
using CadStream.Records;
using SkiaSharp;
using static CadStream.Tests.Ingress.IngressTestKit;

namespace CadStream.Tests.Ingress;

/// <summary>The record's `image` field (any format Skia decodes), its alias `image_png`, and the model's Resize.</summary>
public sealed class ImageFieldTests
{
    static readonly RecordPosition Source = new("cad.pairs", 0, 7);

    /// <summary>A 56 x 28 JPEG: white on the left quarter, black elsewhere.</summary>
    static byte[] WideJpeg()
    {
        using var bitmap = new SKBitmap(new SKImageInfo(56, 28, SKColorType.Rgba8888, SKAlphaType.Opaque));
        bitmap.Erase(SKColors.Black);
        using (var canvas = new SKCanvas(bitmap)) canvas.DrawRect(0, 0, 14, 28, new SKPaint { Color = SKColors.White });
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 95);
        return data.ToArray();
    }

    [Theory]
    [InlineData(PairFormat.Json)]
    [InlineData(PairFormat.Protobuf)]
    public void The_image_field_and_its_alias_image_png_take_any_format_alike(PairFormat format)
    {
        var jpeg = WideJpeg();
        var viaImage = PairRecords.Encode(new PairRecord { Image = jpeg, Label = 2 }, format);
        var viaAlias = PairRecords.Encode(new PairRecord { ImagePng = jpeg, Label = 2 }, format);
        if (format == PairFormat.Json)
        {
            Assert.Contains("\"image\":", Encoding.UTF8.GetString(viaImage));
            Assert.Contains("\"image_png\":", Encoding.UTF8.GetString(viaAlias));
        }
        var contentType = PairRecords.ContentType(format);
        var a = Accepted(TestDecoder.Decode(viaImage, contentType, Source));
        var b = Accepted(TestDecoder.Decode(viaAlias, contentType, Source));
        Assert.Equal(a.Pixels, b.Pixels);
        Assert.Equal(jpeg, PairRecords.Decode(viaImage, contentType, out _)!.Image);
    }

    [Theory]
    [InlineData(PairFormat.Json)]
    [InlineData(PairFormat.Protobuf)]
    public void Two_images_in_one_record_are_refused(PairFormat format)
    {
        var png = Png.Encode(GreyPixels(1), 28, 28);
        var both = PairRecords.Encode(new PairRecord { Image = png, ImagePng = png, Label = 2 }, format);
        Assert.Equal("both image and image_png given; send one", Rejected(TestDecoder.Decode(both, PairRecords.ContentType(format), Source)));
        var raw = PairRecords.Encode(new PairRecord { Image = png, ImageU8 = new byte[784], Width = 28, Height = 28, Channels = 1, Label = 2 }, format);
        Assert.Equal("both image and image_u8 given; send one", Rejected(TestDecoder.Decode(raw, PairRecords.ContentType(format), Source)));
    }

    [Fact]
    public void A_corrupt_image_is_refused_naming_its_field()
    {
        var jpeg = WideJpeg();
        // Cut a few bytes into the scan: the header reads, the pixels do not.
        var truncated = jpeg[..(jpeg.AsSpan().IndexOf([(byte)0xFF, (byte)0xDA]) + 20)];
        var reason = Rejected(TestDecoder.Decode(PairRecords.ToJson(new PairRecord { Image = truncated, Label = 2 }), null, Source));
        Assert.StartsWith("image is truncated or corrupt", reason);
        Assert.Equal("image is not a decodable image",
            Rejected(TestDecoder.Decode(PairRecords.ToJson(new PairRecord { Image = "not an image"u8.ToArray(), Label = 2 }), null, Source)));
    }

    [Fact]
    public void Each_model_converts_by_its_own_Resize()
    {
        var fashion = CadStream.Tests.Model.TestModels.Fashion("crop");
        PairDecoder With(string resize) => new(new ModelCatalog([fashion with { Resize = resize }]));
        var record = PairRecords.ToJson(new PairRecord { Image = WideJpeg(), Label = 2 });
        byte[] Pixels(string resize) => Accepted(With(resize).Decode(record, null, Source)).Pixels;

        // 56 x 28 to 28 x 28. center-crop keeps columns 14..41: the white quarter is cut off.
        var crop = Pixels(ResizePolicyNames.CenterCrop);
        Assert.All(crop, v => Assert.True(v < 25, "center-crop"));
        // pad: the whole picture in rows 7..20, black above and below, so the top row is black even on the white side.
        var pad = Pixels(ResizePolicyNames.Pad);
        Assert.True(pad[2 * 28 + 2] < 10 && pad[14 * 28 + 2] > 230, "pad");
        // stretch: white on the left all the way up.
        var stretch = Pixels(ResizePolicyNames.Stretch);
        Assert.True(stretch[2 * 28 + 2] > 230 && stretch[14 * 28 + 20] < 25, "stretch");
        // The default is center-crop.
        Assert.Equal(crop, Accepted(new PairDecoder(new ModelCatalog([fashion])).Decode(record, null, Source)).Pixels);
    }
}
