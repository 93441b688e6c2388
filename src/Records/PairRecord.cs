using System.Globalization;
using System.Text;
using System.Text.Json;
using Google.Protobuf;

namespace CadStream.Records;

public enum PairFormat { Json, Protobuf }

/// <summary>
/// A pair as it travels in a record value (docs/interfaces.md, "Kafka"): what a producer writes and
/// what ingress reads before validating it against the models. One image (encoded in any format
/// Skia decodes, or raw interleaved u8 of Width x Height x Channels) and a condition (a label, as
/// index or name; a caption).
/// </summary>
public sealed record PairRecord
{
    public string? Id { get; init; }
    public string? Model { get; init; }
    /// <summary>An encoded image: PNG, JPEG, WebP, GIF (first frame) or BMP. Field <c>image</c>.</summary>
    public byte[]? Image { get; init; }
    /// <summary>The same, sent in the older field <c>image_png</c> (an accepted alias, any format too).</summary>
    public byte[]? ImagePng { get; init; }
    /// <summary>Raw row-major interleaved pixels of Width x Height x Channels.</summary>
    public byte[]? ImageU8 { get; init; }
    public int Width { get; init; }
    public int Height { get; init; }
    public int Channels { get; init; }
    public int? Label { get; init; }
    public string? LabelName { get; init; }
    public double? Coherence { get; init; }
    public double? Score { get; init; }
    public string? Caption { get; init; }
    public byte[]? SegmapPng { get; init; }
}

/// <summary>
/// Reads and writes record values: JSON (one UTF-8 object, recognised without a header) or protobuf
/// cadstream.v1.Pair (header content-type: application/x-protobuf). Reading never throws on bad
/// input: it answers a short reason instead, the one the dead-letter topic gets.
/// </summary>
public static class PairRecords
{
    public const string ContentTypeHeader = "content-type";
    public const string ProtobufContentType = "application/x-protobuf";
    public const string JsonContentType = "application/json";

    public static PairFormat ParseFormat(string s) => s.Trim().ToLowerInvariant() switch
    {
        "json" => PairFormat.Json,
        "protobuf" or "proto" => PairFormat.Protobuf,
        _ => throw new ArgumentException($"unknown format '{s}'; expected json or protobuf"),
    };

    public static string ContentType(PairFormat format) =>
        format == PairFormat.Protobuf ? ProtobufContentType : JsonContentType;

    public static byte[] Encode(PairRecord pair, PairFormat format) =>
        format == PairFormat.Protobuf ? ToProtobuf(pair) : ToJson(pair);

    /// <summary>One JSON object on one line, the documented field names, images in base64.</summary>
    public static byte[] ToJson(PairRecord p)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            if (p.Id is not null) w.WriteString("id", p.Id);
            if (p.Model is not null) w.WriteString("model", p.Model);
            if (p.Image is not null) w.WriteBase64String("image", p.Image);
            if (p.ImagePng is not null) w.WriteBase64String("image_png", p.ImagePng);
            if (p.ImageU8 is not null)
            {
                w.WriteBase64String("image_u8", p.ImageU8);
                w.WriteNumber("width", p.Width);
                w.WriteNumber("height", p.Height);
                w.WriteNumber("channels", p.Channels);
            }
            if (p.Label is int label) w.WriteNumber("label", label);
            else if (p.LabelName is not null) w.WriteString("label", p.LabelName);
            if (p.Coherence is double c) w.WriteNumber("coherence", c);
            if (p.Score is double s) w.WriteNumber("score", s);
            if (p.Caption is not null) w.WriteString("caption", p.Caption);
            if (p.SegmapPng is not null) w.WriteBase64String("segmap_png", p.SegmapPng);
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    public static byte[] ToProtobuf(PairRecord p)
    {
        var m = new Protocol.Pair
        {
            Id = p.Id ?? "",
            Model = p.Model ?? "",
        };
        if (p.Caption is not null) m.Caption = p.Caption;
        if (p.Image is not null) m.Image = ByteString.CopyFrom(p.Image);
        if (p.ImagePng is not null) m.ImagePng = ByteString.CopyFrom(p.ImagePng);
        if (p.ImageU8 is not null)
        {
            m.ImageU8 = ByteString.CopyFrom(p.ImageU8);
            m.Width = (uint)p.Width;
            m.Height = (uint)p.Height;
            m.Channels = (uint)p.Channels;
        }
        if (p.Label is int label) m.LabelIndex = label;
        else if (p.LabelName is not null) m.LabelName = p.LabelName;
        if (p.Coherence is double c) m.Coherence = c;
        if (p.Score is double s) m.Score = s;
        if (p.SegmapPng is not null) m.SegmapPng = ByteString.CopyFrom(p.SegmapPng);
        return m.ToByteArray();
    }

    /// <summary>
    /// Reads a record value given its content-type header (null = recognise JSON by its content).
    /// Returns the record, or null and the reason it cannot be read.
    /// </summary>
    public static PairRecord? Decode(byte[] value, string? contentType, out string? reason)
    {
        switch (MediaType(contentType))
        {
            case null or JsonContentType or "text/json":
                return FromJson(value, out reason);
            case ProtobufContentType or "application/protobuf":
                return FromProtobuf(value, out reason);
            default:
                reason = $"unsupported content-type '{contentType}'; use {JsonContentType} or {ProtobufContentType}";
                return null;
        }
    }

    static string? MediaType(string? contentType)
    {
        if (string.IsNullOrWhiteSpace(contentType)) return null;
        int semicolon = contentType.IndexOf(';');
        return (semicolon >= 0 ? contentType[..semicolon] : contentType).Trim().ToLowerInvariant();
    }

    /// <summary>A JSON record value; unknown fields are ignored (newer producers may add some), null means absent.</summary>
    public static PairRecord? FromJson(byte[] value, out string? reason)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(value, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            reason = $"malformed JSON: {FirstLine(e.Message)}";
            return null;
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                reason = $"malformed JSON: expected an object, got {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}";
                return null;
            }
            var r = new JsonFields();
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                var v = p.Value;
                if (v.ValueKind == JsonValueKind.Null) continue;
                // Matched by bytes: reading a name as text throws when it is not UTF-8, and unknown names are never read.
                var field = KnownField(p);
                reason = field switch
                {
                    "id" => Text(v, field, out r.Id),
                    "model" => Text(v, field, out r.Model),
                    "image" => Base64(v, field, out r.Image),
                    "image_png" => Base64(v, field, out r.ImagePng),
                    "image_u8" => Base64(v, field, out r.ImageU8),
                    "segmap_png" => Base64(v, field, out r.SegmapPng),
                    "width" => Int(v, field, out r.Width),
                    "height" => Int(v, field, out r.Height),
                    "channels" => Int(v, field, out r.Channels),
                    "label" => Label(v, r),
                    "coherence" => Number(v, field, out r.Coherence),
                    "score" => Number(v, field, out r.Score),
                    "caption" => Text(v, field, out r.Caption),
                    _ => null,
                };
                if (reason is not null) return null;
            }
            // The fields read are text; bytes elsewhere (an unknown field, a name) that are not UTF-8 still make it no JSON (RFC 8259).
            if (InvalidUtf8At(value) is int at and >= 0)
            {
                reason = $"malformed JSON: byte {at} (0x{value[at]:X2}) is not UTF-8";
                return null;
            }
            reason = null;
            return new PairRecord
            {
                Id = r.Id, Model = r.Model, Image = r.Image, ImagePng = r.ImagePng, ImageU8 = r.ImageU8, Width = r.Width, Height = r.Height,
                Channels = r.Channels, Label = r.Label, LabelName = r.LabelName, Coherence = r.Coherence, Score = r.Score,
                Caption = r.Caption, SegmapPng = r.SegmapPng,
            };
        }

        static string? KnownField(JsonProperty p)
        {
            try
            {
                foreach (var name in JsonFields.Names)
                    if (p.NameEquals(name)) return name;
            }
            // A name escaping half a surrogate pair ("\ud800") cannot even be compared; no field is named so.
            catch (InvalidOperationException) { }
            return null;
        }

        static string? Text(JsonElement v, string name, out string? s)
        {
            s = null;
            if (v.ValueKind != JsonValueKind.String) return $"field '{name}' must be a string";
            // GetString refuses bytes that are not UTF-8 and escapes that are not Unicode (a lone \ud800).
            try { s = v.GetString(); }
            catch (InvalidOperationException) { return $"field '{name}' is not valid UTF-8"; }
            return null;
        }

        static string? Base64(JsonElement v, string name, out byte[]? bytes)
        {
            bytes = null;
            if (v.ValueKind != JsonValueKind.String) return $"field '{name}' must be a base64 string";
            // An escape of half a surrogate pair ("\ud800") makes the decoder throw rather than answer false.
            try { return v.TryGetBytesFromBase64(out bytes) ? null : $"bad base64 in {name}"; }
            catch (InvalidOperationException) { return $"bad base64 in {name}"; }
        }

        static string? Int(JsonElement v, string name, out int x)
        {
            x = 0;
            return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out x) ? null : $"field '{name}' must be an integer";
        }

        static string? Number(JsonElement v, string name, out double? x)
        {
            x = null;
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var d)) return $"field '{name}' must be a number";
            x = d;
            return null;
        }

        static string? Label(JsonElement v, JsonFields f)
        {
            if (v.ValueKind == JsonValueKind.String)
            {
                try { f.LabelName = v.GetString(); }
                catch (InvalidOperationException) { return "field 'label' is not valid UTF-8"; }
                return null;
            }
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i))
            {
                f.Label = i;
                return null;
            }
            return "field 'label' must be a class index (integer) or a class name (string)";
        }
    }

    /// <summary>The fields while a JSON object is read (out arguments need fields, not init properties).</summary>
    sealed class JsonFields
    {
        public static readonly string[] Names =
            ["id", "model", "image", "image_png", "image_u8", "segmap_png", "width", "height", "channels", "label", "coherence", "score", "caption"];

        public string? Id, Model, LabelName, Caption;
        public byte[]? Image, ImagePng, ImageU8, SegmapPng;
        public int Width, Height, Channels;
        public int? Label;
        public double? Coherence, Score;
    }

    /// <summary>A protobuf cadstream.v1.Pair record value; empty strings and bytes mean absent.</summary>
    public static PairRecord? FromProtobuf(byte[] value, out string? reason)
    {
        Protocol.Pair p;
        try
        {
            p = Protocol.Pair.Parser.ParseFrom(value);
        }
        catch (InvalidProtocolBufferException e)
        {
            // Text fields must be UTF-8; say which one is not rather than only that the record is malformed.
            reason = InvalidUtf8Field(value) is { } field ? $"field '{field}' is not valid UTF-8" : $"malformed protobuf: {FirstLine(e.Message)}";
            return null;
        }
        if (p.Width > int.MaxValue || p.Height > int.MaxValue || p.Channels > int.MaxValue)
        {
            reason = "image_u8 width, height or channels is out of range";
            return null;
        }
        reason = null;
        return new PairRecord
        {
            Id = p.Id.Length > 0 ? p.Id : null,
            Model = p.Model.Length > 0 ? p.Model : null,
            Image = p.Image.IsEmpty ? null : p.Image.ToByteArray(),
            ImagePng = p.ImagePng.IsEmpty ? null : p.ImagePng.ToByteArray(),
            ImageU8 = p.ImageU8.IsEmpty ? null : p.ImageU8.ToByteArray(),
            Width = (int)p.Width,
            Height = (int)p.Height,
            Channels = (int)p.Channels,
            Label = p.HasLabelIndex ? p.LabelIndex : null,
            LabelName = p.HasLabelName ? p.LabelName : null,
            Coherence = p.HasCoherence ? p.Coherence : null,
            Score = p.HasScore ? p.Score : null,
            Caption = p.HasCaption ? p.Caption : null,
            SegmapPng = p.SegmapPng.IsEmpty ? null : p.SegmapPng.ToByteArray(),
        };
    }

    /// <summary>
    /// The name of the first text field of a cadstream.v1.Pair whose bytes are not UTF-8, walking the wire
    /// form field by field; null when every text field is UTF-8 (or the bytes are not even well-framed).
    /// </summary>
    static string? InvalidUtf8Field(byte[] value)
    {
        var strict = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        try
        {
            var input = new CodedInputStream(value);
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                var name = WireFormat.GetTagFieldNumber(tag) switch
                {
                    Protocol.Pair.IdFieldNumber => "id",
                    Protocol.Pair.ModelFieldNumber => "model",
                    Protocol.Pair.LabelNameFieldNumber => "label",
                    Protocol.Pair.CaptionFieldNumber => "caption",
                    _ => null,
                };
                if (name is null || WireFormat.GetTagWireType(tag) != WireFormat.WireType.LengthDelimited)
                {
                    input.SkipLastField();
                    continue;
                }
                try { strict.GetString(input.ReadBytes().Span); }
                catch (DecoderFallbackException) { return name; }
            }
        }
        catch (InvalidProtocolBufferException) { }
        return null;
    }

    /// <summary>The offset of the first byte that is not part of a well-formed UTF-8 character, or -1 when all are.</summary>
    static int InvalidUtf8At(ReadOnlySpan<byte> bytes)
    {
        if (System.Text.Unicode.Utf8.IsValid(bytes)) return -1;
        for (int i = 0; i < bytes.Length;)
        {
            if (Rune.DecodeFromUtf8(bytes[i..], out _, out int used) != System.Buffers.OperationStatus.Done) return i;
            i += used;
        }
        return -1;
    }

    /// <summary>An exception message short enough for a header: first line, first sentence when long, at most 160 characters.</summary>
    public static string FirstLine(string s)
    {
        int nl = s.IndexOfAny(['\r', '\n']);
        if (nl >= 0) s = s[..nl];
        int stop = s.IndexOf(". ", StringComparison.Ordinal);
        if (s.Length > 120 && stop > 0) s = s[..(stop + 1)];
        return s.Length <= 160 ? s : s[..157] + "...";
    }

}
