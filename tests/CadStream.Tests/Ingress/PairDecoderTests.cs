using System.Text;
using CadStream.Ingress;
using CadStream.Imaging;
using CadStream.Records;
using Google.Protobuf;
using SkiaSharp;
using static CadStream.Tests.Ingress.IngressTestKit;

namespace CadStream.Tests.Ingress;

public sealed class PairDecoderTests
{
    static readonly RecordPosition Source = new("cad.pairs", 2, 41);

    static PairDecodeResult DecodeJson(string json) => TestDecoder.Decode(Encoding.UTF8.GetBytes(json), null, Source);

    static string B64(byte[] b) => Convert.ToBase64String(b);

    [Fact]
    public void Json_with_a_grey_28x28_png_keeps_every_pixel()
    {
        var pixels = GreyPixels(7);
        var json = $$"""{"id": "p-1", "model": "fashion-cad", "image_png": "{{B64(Png.Encode(pixels, 28, 28))}}", "label": 3, "coherence": 0.8, "score": 27.1}""";
        var p = Accepted(DecodeJson(json));
        Assert.Equal("p-1", p.Id);
        Assert.Equal(["fashion-cad"], p.ModelIds);
        Assert.Equal(3, p.Label);
        Assert.Equal(0.8f, p.Coherence);
        Assert.Equal(27.1, p.Score);
        Assert.Equal((1, 28, 28), (p.Channels, p.Height, p.Width));
        Assert.Equal(pixels, p.Pixels);
        Assert.Equal(Source, p.Position);
    }

    [Fact]
    public void Without_model_id_and_coherence_the_pair_goes_to_every_class_model()
    {
        var p = Accepted(DecodeJson($$"""{"image_png": "{{B64(Png.Encode(GreyPixels(1), 28, 28))}}", "label": 0}"""));
        Assert.Equal(["fashion-cad"], p.ModelIds);
        Assert.Null(p.Coherence);
        Assert.Null(p.Score);
        Assert.Equal("cad.pairs/2/41", p.Id); // no id: where it was read
    }

    [Fact]
    public void An_rgb_png_of_another_size_becomes_28x28_luminance()
    {
        // Pure red: Rec. 601 luminance 0.299 * 255 = 76.2.
        var png = SolidPng(56, 40, new SKColor(255, 0, 0), alpha: SKAlphaType.Opaque);
        var p = Accepted(DecodeJson($$"""{"image_png": "{{B64(png)}}", "label": 1}"""));
        Assert.Equal(784, p.Pixels.Length);
        Assert.All(p.Pixels, v => Assert.Equal(76, v));
    }

    [Fact]
    public void Transparency_is_composited_over_black()
    {
        var png = SolidPng(30, 30, new SKColor(255, 255, 255, 128));
        var p = Accepted(DecodeJson($$"""{"image_png": "{{B64(png)}}", "label": 1}"""));
        Assert.All(p.Pixels, v => Assert.InRange(v, 127, 129));
    }

    [Fact]
    public void Downscaling_filters_instead_of_aliasing()
    {
        // 1-pixel black/white stripes average to mid grey; point sampling would give 0 or 255.
        const int n = 280;
        var stripes = new byte[n * n];
        for (int y = 0; y < n; y++) for (int x = 0; x < n; x++) stripes[y * n + x] = (byte)(x % 2 == 0 ? 255 : 0);
        var p = Accepted(DecodeJson($$"""{"image_u8": "{{B64(stripes)}}", "width": {{n}}, "height": {{n}}, "channels": 1, "label": 2}"""));
        Assert.All(p.Pixels, v => Assert.InRange(v, 120, 135));

        // A smooth ramp stays a ramp.
        var ramp = new float[100 * 100];
        for (int y = 0; y < 100; y++) for (int x = 0; x < 100; x++) ramp[y * 100 + x] = x * 2.55f;
        var small = Resampler.Resize(ramp, 100, 100, 28, 28);
        for (int x = 2; x < 26; x++)
            Assert.InRange(small[5 * 28 + x], (x + 0.5f) * 100 / 28 * 2.55f - 1.5f, (x + 0.5f) * 100 / 28 * 2.55f + 1.5f);
    }

    [Fact]
    public void Raw_u8_grey_and_rgb_are_accepted()
    {
        var grey = GreyPixels(3);
        var p = Accepted(DecodeJson($$"""{"image_u8": "{{B64(grey)}}", "width": 28, "height": 28, "channels": 1, "label": 9}"""));
        Assert.Equal(grey, p.Pixels);

        var rgb = new byte[14 * 14 * 3];
        for (int i = 0; i < 14 * 14; i++) { rgb[i * 3] = 0; rgb[i * 3 + 1] = 255; rgb[i * 3 + 2] = 0; } // green: 0.587 * 255 = 149.7
        var q = Accepted(DecodeJson($$"""{"image_u8": "{{B64(rgb)}}", "width": 14, "height": 14, "channels": 3, "label": "Bag"}"""));
        Assert.Equal(8, q.Label);
        Assert.All(q.Pixels, v => Assert.Equal(150, v));
    }

    [Theory]
    [InlineData("\"Sneaker\"", 7)]
    [InlineData("\"sneaker\"", 7)]
    [InlineData("\"T-shirt/top\"", 0)]
    [InlineData("\"ankle boot\"", 9)]
    [InlineData("5", 5)]
    public void Labels_by_index_or_class_name(string label, int expected)
    {
        var p = Accepted(DecodeJson($$"""{"image_png": "{{B64(Png.Encode(GreyPixels(2), 28, 28))}}", "label": {{label}}}"""));
        Assert.Equal(expected, p.Label);
    }

    [Fact]
    public void Protobuf_with_its_content_type_header()
    {
        var pixels = GreyPixels(11);
        var value = PairRecords.ToProtobuf(new PairRecord
        {
            Id = "pb-1", Model = "fashion-cad", ImagePng = Png.Encode(pixels, 28, 28), LabelName = "Sneaker", Coherence = 0.25, Score = 3.5,
        });
        var p = Accepted(TestDecoder.Decode(value, "application/x-protobuf", Source));
        Assert.Equal(("pb-1", 7, 0.25f, 3.5), (p.Id, p.Label, p.Coherence, p.Score));
        Assert.Equal(pixels, p.Pixels);

        // The same bytes without the header are taken for JSON, and are not JSON.
        Assert.StartsWith("malformed JSON: ", Rejected(TestDecoder.Decode(value, null, Source)));
    }

    [Fact]
    public void Json_and_protobuf_encodings_decode_to_the_same_pair()
    {
        var pair = new PairRecord { Id = "same", ImageU8 = GreyPixels(5, 20, 30), Width = 20, Height = 30, Channels = 1, Label = 4, Coherence = 0.5 };
        var a = Accepted(TestDecoder.Decode(PairRecords.ToJson(pair), "application/json", Source));
        var b = Accepted(TestDecoder.Decode(PairRecords.ToProtobuf(pair), "application/x-protobuf; proto=cadstream.v1.Pair", Source));
        Assert.Equal(a.Pixels, b.Pixels);
        Assert.Equal((a.Id, a.Label, a.Coherence), (b.Id, b.Label, b.Coherence));
    }

    static readonly Lazy<TheoryData<string, byte[]?, string?, string>> RejectionRows = new(BuildRejections);

    public static TheoryData<string, byte[]?, string?, string> Rejections() => RejectionRows.Value;

    static TheoryData<string, byte[]?, string?, string> BuildRejections()
    {
        var png = B64(Png.Encode(GreyPixels(1), 28, 28));
        var big = B64(SolidPng(5000, 5000, SKColors.Black, SKColorType.Gray8, SKAlphaType.Opaque));
        byte[] J(string s) => Encoding.UTF8.GetBytes(s);
        var nanCoherence = new CadStream.Records.Protocol.Pair { ImagePng = ByteString.CopyFrom(Convert.FromBase64String(png)), LabelIndex = 1, Coherence = double.NaN }.ToByteArray();
        return new()
        {
            { "malformed JSON", J("""{"label": 3, "image_png": """), null, "malformed JSON: *" },
            { "not an object", J("[1, 2]"), null, "malformed JSON: expected an object, got array" },
            { "bad base64", J("""{"label": 3, "image_png": "not base64!!"}"""), null, "bad base64 in image_png" },
            { "no image", J($$"""{"label": 3, "image_png": "{{B64(Encoding.UTF8.GetBytes("just some text, no picture"))}}"}"""), null, "image_png is not a decodable image" },
            { "oversized image", J($$"""{"label": 3, "image_png": "{{big}}"}"""), null, "image 5000x5000 exceeds 4096x4096" },
            { "unknown label", J($$"""{"label": "Spaceship", "image_png": "{{png}}"}"""), null, "unknown label 'Spaceship'" },
            { "label out of range", J($$"""{"label": 12, "image_png": "{{png}}"}"""), null, "label 12 outside 0..9" },
            { "coherence 7", J($$"""{"label": 3, "coherence": 7, "image_png": "{{png}}"}"""), null, "coherence 7 outside [0, 1]" },
            { "coherence NaN", nanCoherence, "application/x-protobuf", "coherence NaN is not a finite number" },
            { "unknown model", J($$"""{"model": "x", "label": 3, "image_png": "{{png}}"}"""), null, "unknown model 'x'" },
            { "missing label", J($$"""{"image_png": "{{png}}"}"""), null, "missing label: class models need 'label' (a class index or name)" },
            { "missing image", J("""{"label": 3}"""), null, "missing image: give image (or image_png) or image_u8" },
            { "two images", J($$"""{"label": 3, "image_png": "{{png}}", "image_u8": "AAAA", "width": 1, "height": 1, "channels": 3}"""), null, "both image_png and image_u8 given; send one" },
            { "u8 length", J($$"""{"label": 3, "image_u8": "{{B64(new byte[700])}}", "width": 28, "height": 28, "channels": 1}"""), null, "image_u8 has 700 bytes but 28x28x1 needs 784" },
            { "u8 without shape", J($$"""{"label": 3, "image_u8": "{{B64(new byte[784])}}"}"""), null, "image_u8 needs positive width, height and channels" },
            { "label type", J($$"""{"label": 2.5, "image_png": "{{png}}"}"""), null, "field 'label' must be a class index (integer) or a class name (string)" },
            { "empty", [], null, "empty value" },
            { "tombstone", null, null, "empty value" },
            { "too large", new byte[(1 << 20) + 1], null, "value of 1048577 bytes exceeds the 1048576-byte limit" },
            { "malformed protobuf", [0x0a, 0xff, 0x01], "application/x-protobuf", "malformed protobuf: *" },
            { "content type", J("{}"), "text/csv", "unsupported content-type 'text/csv'; use application/json or application/x-protobuf" },
            { "pixel bomb", J($$"""{"label": 3, "image_png": "{{B64(BombPng(2000, 2000, rows: 1))}}"}"""), null,
                "image 2000x2000 declares 4000000 pixels, more than the 1048576 allowed (Ingress:MaxPixels)" },
            { "u8 pixels", J($$"""{"label": 3, "image_u8": "{{B64(new byte[16])}}", "width": 1100, "height": 1000, "channels": 1}"""), null,
                "image 1100x1000 declares 1100000 pixels, more than the 1048576 allowed (Ingress:MaxPixels)" },
            { "long id", J($$"""{"id": "{{new string('x', 257)}}", "label": 3, "image_png": "{{png}}"}"""), null,
                "id of 257 characters exceeds the 256-character limit (Ingress:MaxIdLength)" },
        };
    }

    [Theory]
    [MemberData(nameof(Rejections), DisableDiscoveryEnumeration = true)]
    public void Each_bad_record_is_rejected_with_its_own_reason(string name, byte[]? value, string? contentType, string expected)
    {
        var reason = Rejected(TestDecoder.Decode(value, contentType, Source));
        if (expected.EndsWith('*')) Assert.StartsWith(expected[..^1], reason);
        else Assert.Equal(expected, reason);
        Assert.True(reason.Length < 200, $"{name}: reason too long for a header: {reason}");
    }

    [Fact]
    public void Every_rejection_reason_is_distinct()
    {
        var reasons = Rejections().Select(row => (string)row[3]).Where(r => r != "empty value").ToList();
        Assert.Equal(reasons.Count, reasons.Distinct().Count());
    }

    [Fact]
    public void The_declared_size_is_read_from_the_png_header_and_a_bomb_within_the_pixel_limit_decodes()
    {
        var bomb = BombPng(4096, 4096);
        Assert.True(bomb.Length < 64 * 1024, $"the bomb is {bomb.Length} bytes");
        Assert.Equal((4096L, 4096L), Png.ReadSize(bomb));
        Assert.Equal((28L, 28L), Png.ReadSize(Png.Encode(GreyPixels(1), 28, 28)));
        Assert.Null(Png.ReadSize(Encoding.UTF8.GetBytes("GIF89a, not a PNG at all")));
        // The hand-made file is a real PNG: one under the limit decodes (to black).
        var p = Accepted(TestDecoder.Decode(Encoding.UTF8.GetBytes($$"""{"label": 3, "image_png": "{{B64(BombPng(1024, 1024))}}"}"""), null, Source));
        Assert.All(p.Pixels, b => Assert.Equal(0, b));
        Assert.StartsWith("image 4096x4096 declares", Rejected(TestDecoder.Decode(Encoding.UTF8.GetBytes($$"""{"label": 3, "image_png": "{{B64(bomb)}}"}"""), null, Source)));
    }

    [Fact]
    public void Limits_are_configurable()
    {
        var strict = new PairDecoder(IngressTestKit.Catalog, new PairDecoderOptions { MaxImageSide = 64, MaxValueBytes = 4096 });
        var png = SolidPng(100, 100, SKColors.White, SKColorType.Gray8, SKAlphaType.Opaque);
        Assert.Equal("image 100x100 exceeds 64x64", Rejected(strict.Decode(Encoding.UTF8.GetBytes($$"""{"label": 1, "image_png": "{{B64(png)}}"}"""), null, Source)));
        Assert.Equal("value of 5000 bytes exceeds the 4096-byte limit", Rejected(strict.Decode(new byte[5000], null, Source)));
        var fewPixels = new PairDecoder(IngressTestKit.Catalog, new PairDecoderOptions { MaxPixels = 28 * 28, MaxIdLength = 4 });
        Assert.Equal("image 29x28 declares 812 pixels, more than the 784 allowed (Ingress:MaxPixels)",
            Rejected(fewPixels.Decode(Encoding.UTF8.GetBytes($$"""{"label": 1, "image_png": "{{B64(Png.Encode(GreyPixels(2, 29, 28), 29, 28))}}"}"""), null, Source)));
        Assert.Equal("id of 5 characters exceeds the 4-character limit (Ingress:MaxIdLength)",
            Rejected(fewPixels.Decode(Encoding.UTF8.GetBytes($$"""{"id": "abcde", "label": 1, "image_png": "{{B64(Png.Encode(GreyPixels(2), 28, 28))}}"}"""), null, Source)));
        Assert.Throws<ArgumentException>(() => new PairDecoder(IngressTestKit.Catalog, new PairDecoderOptions { MaxPixels = 0 }));
    }
}
