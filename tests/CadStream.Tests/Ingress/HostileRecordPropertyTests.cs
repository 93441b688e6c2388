using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CadStream.Imaging;
using CadStream.Ingress;
using CadStream.Records;
using CsCheck;
using Google.Protobuf;
using Xunit.Abstractions;
using static CadStream.Tests.TestKit.HostileInput;
using static CadStream.Tests.Ingress.IngressTestKit;

namespace CadStream.Tests.Ingress;

/// <summary>
/// No record, however malformed, makes the decoder throw: 10,000 generated record values (JSON of any shape,
/// records close to valid with any value in any field, protobuf records damaged or carrying text fields that are
/// not UTF-8, raw bytes, under any content type) each decode to a pair or to a reason for the dead-letter topic,
/// and never to the decoder's own safety net ("undecodable record", which catches what the checks missed).
/// A failure prints CsCheck's seed; <c>CsCheck_Seed=...</c> replays that case.
/// </summary>
public sealed class HostileRecordPropertyTests(ITestOutputHelper output)
{
    static readonly RecordPosition Source = new("cad.pairs", 0, 1);

    static byte[] JsonText(string s) => U(JsonSerializer.Serialize(s));
    static string Num(double d) => d.ToString("R", CultureInfo.InvariantCulture);

    static readonly byte[] Grey28 = Png.Encode(GreyPixels(1), 28, 28);
    static readonly byte[] Rgb5x7 = Png.Encode(GreyPixels(2, 15, 7), 5, 7, channels: 3);

    /// <summary>A member that is absent, valid, or any JSON value at all.</summary>
    static Gen<(string, byte[])?> Member(string name, Gen<byte[]> valid, int absent = 3, int good = 4, int bad = 2) =>
        Gen.Frequency<(string, byte[])?>(
            (absent, Gen.Const(default((string, byte[])?))),
            (good, valid.Select(v => ((string, byte[])?)(name, v))),
            (bad, Value.Select(v => ((string, byte[])?)(name, v))));

    static Gen<byte[]> Members(params Gen<(string, byte[])?>[] members) =>
        members.Aggregate(Gen.Const(Array.Empty<(string, byte[])>()), (all, member) => Gen.Select(all, member, (a, m) => m is { } x ? [.. a, x] : a))
            .Select(all => Object(all));

    static readonly Gen<byte[]> Base64Image = Gen.Frequency<byte[]>(
        (6, Gen.OneOf(Grey28, Rgb5x7).Select(p => JsonText(Convert.ToBase64String(p)))),
        (1, Gen.Byte.Array[0, 64].Select(b => JsonText(Convert.ToBase64String(b)))),
        (1, Gen.Const(JsonText(Convert.ToBase64String(BombPng(4096, 4096, rows: 1))))),
        (1, Gen.OneOf("\"not base64!\"", "\"QUJD\"", "\"=\"").Select(U)));

    static readonly Gen<byte[]> Caption = Gen.OneOf("dark ankle boots for sale", "a photo of some sneakers", "😀 boots", " ", "", new string('w', 1001))
        .Select(JsonText);

    /// <summary>A JSON record close to a valid one: each field absent, valid or anything.</summary>
    static readonly Gen<byte[]> NearValidJson = Members(
        Member("id", Gen.String[0, 20].Select(JsonText)),
        Member("model", Gen.OneOf("fashion-cad", "fashion-text", "nope").Select(JsonText), absent: 4, good: 2),
        Member("image_png", Base64Image, absent: 1, good: 6),
        Member("label", Gen.Frequency<byte[]>((3, Gen.Int[0, 9].Select(i => U(i.ToString(CultureInfo.InvariantCulture)))),
            (1, Gen.OneOf("Sneaker", "T-shirt/top", "Dragon").Select(JsonText))), absent: 2, good: 6),
        Member("caption", Caption, absent: 5),
        Member("coherence", Gen.Double.Unit.Select(d => U(Num(d)))),
        Member("score", Gen.Double[0, 100].Select(d => U(Num(d)))),
        Member("image_u8", Gen.Byte.Array[0, 40].Select(b => JsonText(Convert.ToBase64String(b))), absent: 8, good: 1),
        Member("width", Gen.Int[-1, 8].Select(i => U(i.ToString(CultureInfo.InvariantCulture))), absent: 6),
        Member("height", Gen.Int[-1, 8].Select(i => U(i.ToString(CultureInfo.InvariantCulture))), absent: 6),
        Member("channels", Gen.Int[0, 5].Select(i => U(i.ToString(CultureInfo.InvariantCulture))), absent: 6));

    /// <summary>A valid raw image: width x height x channels bytes, said so.</summary>
    static readonly Gen<byte[]> RawImageJson = Gen.Select(Gen.Int[1, 6], Gen.Int[1, 6], Gen.Int[1, 4], Gen.Int[0, 9], (w, h, c, label) =>
        Object([("label", U(label.ToString(CultureInfo.InvariantCulture))), ("image_u8", JsonText(Convert.ToBase64String(GreyPixels(w, w * c, h)))),
            ("width", U(w.ToString(CultureInfo.InvariantCulture))), ("height", U(h.ToString(CultureInfo.InvariantCulture))),
            ("channels", U(c.ToString(CultureInfo.InvariantCulture)))]));

    /// <summary>A text field of a JSON record holding bytes that are not UTF-8 (the issue's kind), the rest valid.</summary>
    static readonly Gen<(byte[] Value, string Field)> NotUtf8Json = Gen.Select(Gen.OneOf("id", "model", "caption", "label"), NotUtf8, Gen.Bool, (field, bad, escaped) =>
    {
        byte[] text = escaped ? U(@"\ud800") : bad;
        return ((byte[])[.. U($"{{\"image_png\": \"{Convert.ToBase64String(Grey28)}\", \"label\": 1, \"{field}\": \"x"), .. text, .. "\"}"u8], field);
    });

    /// <summary>A valid protobuf record of random fields.</summary>
    static readonly Gen<byte[]> ValidProtobuf = Gen.Select(Gen.String[0, 12], Gen.OneOf("", "fashion-cad", "fashion-text"), Gen.Int[-2, 11], Gen.Bool,
        Gen.Double.Unit, Gen.Bool, Gen.OneOf<string?>(null, "boots for sale", ""), (id, model, label, byName, coherence, raw, caption) =>
    {
        var p = new CadStream.Records.Protocol.Pair { Id = id, Model = model, Coherence = coherence };
        if (raw)
        {
            p.ImageU8 = ByteString.CopyFrom(GreyPixels(label, 28, 28));
            p.Width = 28;
            p.Height = 28;
            p.Channels = 1;
        }
        else p.ImagePng = ByteString.CopyFrom(Grey28);
        if (byName) p.LabelName = label.ToString(CultureInfo.InvariantCulture);
        else p.LabelIndex = label;
        if (caption is not null) p.Caption = caption;
        return p.ToByteArray();
    });

    static readonly (int Number, string Name)[] TextFields =
    [
        (CadStream.Records.Protocol.Pair.IdFieldNumber, "id"), (CadStream.Records.Protocol.Pair.ModelFieldNumber, "model"),
        (CadStream.Records.Protocol.Pair.LabelNameFieldNumber, "label"), (CadStream.Records.Protocol.Pair.CaptionFieldNumber, "caption"),
    ];

    /// <summary>A valid protobuf record with one text field's bytes that are not UTF-8 written after it (the generated API refuses to write them).</summary>
    static readonly Gen<(byte[] Value, string Field)> NotUtf8Protobuf = Gen.Select(ValidProtobuf, Gen.OneOf(TextFields), Gen.String[0, 5], NotUtf8,
        (record, field, text, bad) =>
        {
            using var buffer = new MemoryStream();
            buffer.Write(record);  // a message is its fields one after another: one more field may follow
            var output = new CodedOutputStream(buffer);
            output.WriteTag(field.Number, WireFormat.WireType.LengthDelimited);
            output.WriteBytes(ByteString.CopyFrom([.. U(text), .. bad]));
            output.Flush();
            return (buffer.ToArray(), field.Name);
        });

    /// <summary>Protobuf fields of any number and wire type with any content.</summary>
    static readonly Gen<byte[]> RandomProtobuf = Gen.Select(Gen.Int[1, 20], Gen.Int[0, 5], Gen.Byte.Array[0, 40], Gen.Long).Array[0, 6].Select(fields =>
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        foreach (var (number, wire, bytes, n) in fields)
        {
            output.WriteRawTag((byte)((number << 3) | wire));
            switch (wire)
            {
                case 0: output.WriteInt64(n); break;
                case 1: output.WriteFixed64((ulong)n); break;
                case 2: output.WriteBytes(ByteString.CopyFrom(bytes)); break;
                case 5: output.WriteFixed32((uint)n); break;
                default:  // groups and stray bytes
                    output.Flush();
                    buffer.Write(bytes);
                    break;
            }
        }
        output.Flush();
        return buffer.ToArray();
    });

    const string Json = PairRecords.JsonContentType, Protobuf = PairRecords.ProtobufContentType;

    static readonly Gen<string?> OtherContentType = Gen.OneOf<string?>(null, Json, Protobuf, "application/protobuf", "application/json; charset=utf-8",
        "text/plain", "", "application/x-protobuf; proto=cadstream.v1.Pair", "\u0000");

    /// <summary>A record value, its content-type header, and the text field that is not UTF-8 when the record was made so.</summary>
    static readonly Gen<(byte[] Value, string? ContentType, string? NotUtf8Field)> Record = Gen.Frequency<(byte[], string?, string?)>(
        (20, NearValidJson.Select(v => (v, (string?)null, (string?)null))),
        (4, RawImageJson.Select(v => (v, (string?)Json, (string?)null))),
        (10, Mutated(NearValidJson).Select(v => (v, (string?)null, (string?)null))),
        (6, NotUtf8Json.Select(x => (x.Value, (string?)null, (string?)x.Field))),
        (10, Value.Select(v => (v, (string?)null, (string?)null))),
        (10, ValidProtobuf.Select(v => (v, (string?)Protobuf, (string?)null))),
        (10, Mutated(ValidProtobuf).Select(v => (v, (string?)Protobuf, (string?)null))),
        (6, NotUtf8Protobuf.Select(x => (x.Value, (string?)Protobuf, (string?)x.Field))),
        (6, RandomProtobuf.Select(v => (v, (string?)Protobuf, (string?)null))),
        (8, Gen.Select(Bytes, OtherContentType, (v, t) => (v, t, (string?)null))),
        (3, Gen.Select(Value, OtherContentType, (v, t) => (v, t, (string?)null))),
        (2, Deep.Select(v => (v, (string?)null, (string?)null))));

    static string Describe((byte[] Value, string? ContentType, string? NotUtf8Field) c) =>
        $"content-type {c.ContentType ?? "none"}, {c.Value.Length} bytes: " +
        (c.ContentType?.Contains("protobuf") == true ? Convert.ToHexString(c.Value.AsSpan(0, Math.Min(200, c.Value.Length))) : Encoding.UTF8.GetString(c.Value.AsSpan(0, Math.Min(400, c.Value.Length))));

    [Fact]
    public void Ten_thousand_generated_records_decode_to_a_pair_or_a_reason_and_never_throw()
    {
        var decoder = CaptionTestKit.MixedDecoder;
        int accepted = 0, rejected = 0, notUtf8 = 0;
        var clock = Stopwatch.StartNew();
        Record.Sample((value, contentType, notUtf8Field) =>
        {
            var r = decoder.Decode(value, contentType, Source);
            if (r.IsAccepted)
            {
                Interlocked.Increment(ref accepted);
                var p = r.Pair!;
                Assert.NotEmpty(p.ModelIds);
                Assert.Equal(p.Channels * p.Height * p.Width, p.Pixels.Length);
                Assert.True(p.Label is not null || p.Caption is not null, "a pair without a condition");
                Assert.True(p.Coherence is null or >= 0 and <= 1);
                Assert.True(notUtf8Field is null, $"accepted a record whose '{notUtf8Field}' is not UTF-8");
                // JSON is UTF-8 text: a JSON record that is not is never accepted.
                Assert.False(contentType is null or Json && !System.Text.Unicode.Utf8.IsValid(value), "accepted JSON that is not UTF-8");
                return;
            }
            Interlocked.Increment(ref rejected);
            Assert.False(string.IsNullOrWhiteSpace(r.Rejection), "a rejection without a reason");
            // The safety net catches exceptions the checks did not foresee; a generated record must never reach it.
            Assert.False(r.Rejection.StartsWith("undecodable record", StringComparison.Ordinal), r.Rejection);
            if (notUtf8Field is not null)
            {
                Interlocked.Increment(ref notUtf8);
                Assert.Equal($"field '{notUtf8Field}' is not valid UTF-8", r.Rejection);
            }
        }, iter: 10_000, writeLine: output.WriteLine, print: Describe);

        output.WriteLine($"{accepted + rejected} records in {clock.Elapsed.TotalSeconds:F1} s: {accepted} accepted, {rejected} rejected ({notUtf8} for text that is not UTF-8)");
        // The generator reached both outcomes: records that pass all the checks and many that fail one.
        Assert.True(accepted >= 500, $"only {accepted} records accepted");
        Assert.True(rejected >= 5000, $"only {rejected} records rejected");
        Assert.True(notUtf8 >= 500, $"only {notUtf8} records with text that is not UTF-8");
    }

    [Fact]
    public void A_json_record_whose_unknown_field_or_name_is_not_utf8_is_rejected()
    {
        var png = Convert.ToBase64String(Grey28);
        var decoder = CaptionTestKit.MixedDecoder;
        byte[] badValue = [.. U($"{{\"image_png\": \"{png}\", \"label\": 1, \"note\": \""), 0xFF, .. "\"}"u8];
        Assert.StartsWith("malformed JSON: byte ", decoder.Decode(badValue, null, Source).Rejection);
        byte[] badName = [.. U($"{{\"image_png\": \"{png}\", \"label\": 1, \""), 0xC3, 0x28, .. "\": 2}"u8];
        Assert.StartsWith("malformed JSON: byte ", decoder.Decode(badName, null, Source).Rejection);
        // An escaped known name is still that field.
        Assert.True(decoder.Decode(U($"{{\"image_png\": \"{png}\", \"\\u006cabel\": 1}}"), null, Source).IsAccepted);
    }
}
