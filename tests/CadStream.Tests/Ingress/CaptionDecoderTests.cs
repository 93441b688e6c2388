using System.Text;
using CadStream.Imaging;
using CadStream.Ingress;
using CadStream.Records;
using Google.Protobuf;
using static CadStream.Tests.Ingress.IngressTestKit;
using CadStream.Catalog;

namespace CadStream.Tests.Ingress;

/// <summary>Models, records and decoders for the caption tests: a class model and a text model of Fashion-MNIST's shape.</summary>
public static class CaptionTestKit
{
    public const string ClassModel = "fashion-cad", TextModel = "fashion-text";

    /// <summary>One class model and one text model.</summary>
    public static ModelCatalog Mixed { get; } = new([CadStream.Tests.Model.TestModels.Fashion(ClassModel), CadStream.Tests.Model.TestModels.FashionText(TextModel)]);

    public static PairDecoder MixedDecoder { get; } = new(Mixed);

    public static byte[] Png28(int seed = 1) => Png.Encode(GreyPixels(seed), 28, 28);

    /// <summary>A protobuf record whose caption field holds these bytes as they are (the generated API would refuse to write bytes that are not UTF-8).</summary>
    public static byte[] ProtobufWithRawCaption(byte[] captionBytes, string? model = null, int? label = null)
    {
        var pair = new CadStream.Records.Protocol.Pair { Id = "raw", ImagePng = ByteString.CopyFrom(Png28()) };
        if (model is not null) pair.Model = model;
        if (label is int l) pair.LabelIndex = l;
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        pair.WriteTo(output);
        output.WriteTag(CadStream.Records.Protocol.Pair.CaptionFieldNumber, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(captionBytes));
        output.Flush();
        return buffer.ToArray();
    }

    /// <summary>"a ", then 0xC3 0x28: a two-byte lead followed by a byte that cannot continue it.</summary>
    public static readonly byte[] InvalidUtf8 = [(byte)'a', (byte)' ', 0xC3, 0x28];
}

/// <summary>Captions in records (JSON and protobuf), their bounds and how they route pairs to models by condition kind.</summary>
public sealed class CaptionDecoderTests
{
    static readonly RecordPosition Source = new("cad.pairs", 0, 7);

    static PairDecodeResult Decode(PairDecoder decoder, byte[] value, string? contentType = null) => decoder.Decode(value, contentType, Source);

    static byte[] Json(string s) => Encoding.UTF8.GetBytes(s);

    static string B64Png => Convert.ToBase64String(CaptionTestKit.Png28());

    [Theory]
    [InlineData(PairFormat.Json)]
    [InlineData(PairFormat.Protobuf)]
    public void A_caption_and_a_label_round_trip_in_both_formats(PairFormat format)
    {
        // Accents, an emoji of two code points, a CJK word, quotes and a backslash: all must come back as sent.
        const string caption = "Café-style \"ankle boots\" 🛍️ \\ 靴 #ootd";
        var record = new PairRecord { Id = "c-1", ImagePng = CaptionTestKit.Png28(), Label = 9, Caption = caption, Score = 27.5 };
        var bytes = PairRecords.Encode(record, format);
        var back = PairRecords.Decode(bytes, PairRecords.ContentType(format), out var reason);
        Assert.Null(reason);
        Assert.Equal(caption, back!.Caption);
        Assert.Equal(9, back.Label);
        Assert.Equal(27.5, back.Score);

        // Through the decoder: both kinds of model, each condition kept.
        var pair = Accepted(Decode(CaptionTestKit.MixedDecoder, bytes, PairRecords.ContentType(format)));
        Assert.Equal([CaptionTestKit.ClassModel, CaptionTestKit.TextModel], pair.ModelIds);
        Assert.Equal(9, pair.Label);
        Assert.Equal(caption, pair.Caption);
    }

    [Fact]
    public void Records_without_a_caption_stay_valid_and_an_empty_protobuf_caption_differs_from_none()
    {
        // An older producer's protobuf record: no field 12 at all.
        var old = new CadStream.Records.Protocol.Pair { Id = "old", ImagePng = ByteString.CopyFrom(CaptionTestKit.Png28()), LabelIndex = 2 }.ToByteArray();
        var pair = Accepted(Decode(TestDecoder, old, PairRecords.ProtobufContentType));
        Assert.Null(pair.Caption);
        Assert.Equal(2, pair.Label);
        Assert.Null(PairRecords.FromProtobuf(old, out _)!.Caption);
        Assert.Null(PairRecords.FromJson(GoodJson("j"), out _)!.Caption);

        // An empty caption is present: the record says "caption" and says nothing.
        var empty = new CadStream.Records.Protocol.Pair { ImagePng = ByteString.CopyFrom(CaptionTestKit.Png28()), LabelIndex = 2, Caption = "" }.ToByteArray();
        Assert.Equal("", PairRecords.FromProtobuf(empty, out _)!.Caption);
        Assert.StartsWith("empty caption", Rejected(Decode(CaptionTestKit.MixedDecoder, empty, PairRecords.ProtobufContentType)));
    }

    [Fact]
    public void Pairs_go_to_the_models_of_the_conditions_they_carry()
    {
        var d = CaptionTestKit.MixedDecoder;
        var captionOnly = Accepted(Decode(d, Json($$"""{"image_png": "{{B64Png}}", "caption": "a pair of ankle boots"}""")));
        Assert.Equal([CaptionTestKit.TextModel], captionOnly.ModelIds);
        Assert.Null(captionOnly.Label);
        Assert.Equal("a pair of ankle boots", captionOnly.Caption);

        var labelOnly = Accepted(Decode(d, Json($$"""{"image_png": "{{B64Png}}", "label": "Ankle boot"}""")));
        Assert.Equal([CaptionTestKit.ClassModel], labelOnly.ModelIds);
        Assert.Equal(9, labelOnly.Label);
        Assert.Null(labelOnly.Caption);

        // Named models take their own kind's condition; the other is not passed on.
        var toText = Accepted(Decode(d, Json($$"""{"model": "fashion-text", "image_png": "{{B64Png}}", "label": 9, "caption": "boots"}""")));
        Assert.Equal([CaptionTestKit.TextModel], toText.ModelIds);
        Assert.Equal("boots", toText.Caption);
        var toClass = Accepted(Decode(d, Json($$"""{"model": "fashion-cad", "image_png": "{{B64Png}}", "label": 9, "caption": "boots"}""")));
        Assert.Equal([CaptionTestKit.ClassModel], toClass.ModelIds);
        Assert.Null(toClass.Caption);

        // A text-only pair does not need a valid class label: the label is not its condition.
        var textWithOddLabel = Accepted(Decode(d, Json($$"""{"model": "fashion-text", "image_png": "{{B64Png}}", "label": "Spaceship", "caption": "boots"}""")));
        Assert.Null(textWithOddLabel.Label);

        Assert.Equal("missing caption: text models need 'caption' (text of 1 or more characters)",
            Rejected(Decode(d, Json($$"""{"model": "fashion-text", "image_png": "{{B64Png}}", "label": 9}"""))));
        Assert.Equal("missing condition: class models need 'label', text models need 'caption'",
            Rejected(Decode(d, Json($$"""{"image_png": "{{B64Png}}"}"""))));
        // A deployment without text models: captions alone go nowhere, and the old reason stays for no condition.
        Assert.Equal("no configured model takes text pairs", Rejected(Decode(TestDecoder, Json($$"""{"image_png": "{{B64Png}}", "caption": "boots"}"""))));
        Assert.Equal("missing label: class models need 'label' (a class index or name)", Rejected(Decode(TestDecoder, Json($$"""{"image_png": "{{B64Png}}"}"""))));
        // A class-only deployment takes a pair with both, for its class models.
        Assert.Equal(["fashion-cad"], Accepted(Decode(TestDecoder, Json($$"""{"image_png": "{{B64Png}}", "label": 1, "caption": "boots"}"""))).ModelIds);
    }

    [Fact]
    public void Caption_length_counts_code_points_up_to_the_configured_limit()
    {
        string Record(string caption) => $$"""{"image_png": "{{B64Png}}", "caption": {{System.Text.Json.JsonSerializer.Serialize(caption)}}}""";
        var d = CaptionTestKit.MixedDecoder;
        Assert.Equal(1000, d.Options.MaxCaptionLength);
        // 1000 emoji of one code point each (two UTF-16 units, four UTF-8 bytes) are 1000 characters.
        var emoji = string.Concat(Enumerable.Repeat("👢", 1000));
        Assert.Equal(2000, emoji.Length);
        Assert.Equal(emoji, Accepted(Decode(d, Json(Record(emoji)))).Caption);
        Assert.Equal("caption of 1001 characters exceeds the 1000-character limit (Ingress:MaxCaptionLength)", Rejected(Decode(d, Json(Record(emoji + "x")))));
        Assert.Equal("empty caption: a caption needs 1 to 1000 characters", Rejected(Decode(d, Json(Record("")))));
        Assert.Equal("empty caption: a caption needs 1 to 1000 characters", Rejected(Decode(d, Json(Record(" \t\n")))));
        Assert.Equal("x", Accepted(Decode(d, Json(Record("x")))).Caption);

        var strict = new PairDecoder(CaptionTestKit.Mixed, new PairDecoderOptions { MaxCaptionLength = 5 });
        Assert.Equal("caption of 6 characters exceeds the 5-character limit (Ingress:MaxCaptionLength)", Rejected(Decode(strict, Json(Record("booots")))));
        // Held to its bounds even where only class models take the pair: a record is valid or not on its own.
        Assert.StartsWith("caption of 6 characters", Rejected(Decode(strict, Json($$"""{"image_png": "{{B64Png}}", "label": 1, "model": "fashion-cad", "caption": "booots"}"""))));
        Assert.Throws<ArgumentException>(() => new PairDecoder(CaptionTestKit.Mixed, new PairDecoderOptions { MaxCaptionLength = 0 }));
        Assert.Throws<ArgumentException>(() => new PairDecoder(CaptionTestKit.Mixed, new PairDecoderOptions { MaxCaptionLength = PairDecoderOptions.CaptionLengthCeiling + 1 }));
    }

    [Fact]
    public void Text_that_is_not_utf8_is_refused_naming_its_field()
    {
        var d = CaptionTestKit.MixedDecoder;
        // JSON: raw bytes that are not UTF-8 inside the caption string ...
        byte[] badBytes = [.. Json("{\"image_png\": \"" + B64Png + "\", \"caption\": \""), .. CaptionTestKit.InvalidUtf8, .. "\"}"u8];
        Assert.Equal("field 'caption' is not valid UTF-8", Rejected(Decode(d, badBytes)));
        // ... and an escape of half a surrogate pair, which no UTF-8 text can hold.
        Assert.Equal("field 'caption' is not valid UTF-8", Rejected(Decode(d, Json($$"""{"image_png": "{{B64Png}}", "caption": "boots \ud800"}"""))));
        // A whole escaped pair is one emoji, and fine.
        Assert.Equal("boots 😀", Accepted(Decode(d, Json($$"""{"image_png": "{{B64Png}}", "caption": "boots \ud83d\ude00"}"""))).Caption);
        byte[] badLabel = [.. Json("{\"image_png\": \"" + B64Png + "\", \"label\": \""), .. CaptionTestKit.InvalidUtf8, .. "\"}"u8];
        Assert.Equal("field 'label' is not valid UTF-8", Rejected(Decode(d, badLabel)));

        // Protobuf: the caption field's bytes are not UTF-8.
        Assert.Equal("field 'caption' is not valid UTF-8",
            Rejected(Decode(d, CaptionTestKit.ProtobufWithRawCaption(CaptionTestKit.InvalidUtf8), PairRecords.ProtobufContentType)));
        // The same bytes as valid text pass: the framing of the hand-written record is right.
        Assert.Equal("a (", Accepted(Decode(d, CaptionTestKit.ProtobufWithRawCaption("a ("u8.ToArray()), PairRecords.ProtobufContentType)).Caption);
    }
}
