using System.Globalization;
using System.Text;
using System.Text.Json;
using CadStream.Ingress.Imaging;
using CadStream.Model.Catalog;
using Confluent.Kafka;
using Google.Protobuf;

namespace CadStream.Ingress;

/// <summary>Limits that protect ingress from oversized or hostile records.</summary>
public sealed record PairDecoderOptions
{
    /// <summary>Largest record value accepted, in bytes.</summary>
    public int MaxValueBytes { get; init; } = 1 << 20;
    /// <summary>Largest image side accepted (width and height), in pixels, before conversion.</summary>
    public int MaxImageSide { get; init; } = 4096;
}

/// <summary>
/// Turns a Kafka record of cad.pairs into a validated <see cref="IncomingPair"/>, or a short
/// reason for the dead-letter topic. JSON is recognised without a header; protobuf
/// (cadstream.v1.Pair) needs the header content-type: application/x-protobuf. Never throws on
/// bad input. Thread-safe.
/// </summary>
public sealed class PairDecoder
{
    private readonly ModelCatalog catalog;

    public PairDecoderOptions Options { get; }

    public PairDecoder(ModelCatalog catalog, PairDecoderOptions? options = null)
    {
        this.catalog = catalog;
        Options = options ?? new PairDecoderOptions();
        if (Options.MaxValueBytes < 1) throw new ArgumentException("MaxValueBytes must be positive");
        if (Options.MaxImageSide < 1) throw new ArgumentException("MaxImageSide must be positive");
    }

    /// <summary>Decodes a consumed record (its value and its content-type header).</summary>
    public PairDecodeResult Decode(ConsumeResult<byte[]?, byte[]?> record) =>
        Decode(record.Message.Value, ContentType(record.Message.Headers), PairSource.From(record.TopicPartitionOffset));

    /// <summary>The last content-type header, if any, as text.</summary>
    public static string? ContentType(Headers? headers)
    {
        if (headers is null || !headers.TryGetLastBytes(IngressTopics.ContentTypeHeader, out var bytes) || bytes is null) return null;
        return Encoding.UTF8.GetString(bytes);
    }

    /// <param name="value">The record value (null for a tombstone).</param>
    /// <param name="contentType">The content-type header; null = recognise JSON by its content.</param>
    /// <param name="source">Where the record was read; also the id when the record has none.</param>
    public PairDecodeResult Decode(byte[]? value, string? contentType, PairSource source)
    {
        if (value is null || value.Length == 0) return PairDecodeResult.Reject("empty value");
        if (value.Length > Options.MaxValueBytes)
            return PairDecodeResult.Reject($"value of {value.Length} bytes exceeds the {Options.MaxValueBytes}-byte limit");

        var kind = MediaType(contentType);
        PairFields? fields;
        string? reason;
        switch (kind)
        {
            case null or IngressTopics.JsonContentType or "text/json":
                fields = ReadJson(value, out reason);
                break;
            case IngressTopics.ProtobufContentType or "application/protobuf":
                fields = ReadProtobuf(value, out reason);
                break;
            default:
                return PairDecodeResult.Reject($"unsupported content-type '{contentType}'; use application/json or application/x-protobuf");
        }
        if (fields is null) return PairDecodeResult.Reject(reason!);
        try
        {
            return Validate(fields, source);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A decoder bug must not stop the consumer: the record goes to the DLQ with the cause.
            return PairDecodeResult.Reject($"undecodable record ({e.GetType().Name}: {FirstLine(e.Message)})");
        }
    }

    static string? MediaType(string? contentType)
    {
        if (string.IsNullOrWhiteSpace(contentType)) return null;
        int semicolon = contentType.IndexOf(';');
        return (semicolon >= 0 ? contentType[..semicolon] : contentType).Trim().ToLowerInvariant();
    }

    /// <summary>The fields of a pair as sent, before validation; shared by the JSON and protobuf readers.</summary>
    sealed class PairFields
    {
        public string? Id;
        public string? Model;
        public byte[]? ImagePng;
        public byte[]? ImageU8;
        public int Width, Height, Channels;
        public int? LabelIndex;
        public string? LabelName;
        public double? Coherence;
        public double? Score;
        public string? Caption;
        public byte[]? SegmapPng;
    }

    static PairFields? ReadJson(byte[] value, out string? reason)
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
            var f = new PairFields();
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                var v = p.Value;
                if (v.ValueKind == JsonValueKind.Null) continue; // null = absent
                reason = p.Name switch
                {
                    "id" => Text(v, p.Name, out f.Id),
                    "model" => Text(v, p.Name, out f.Model),
                    "image_png" => Base64(v, p.Name, out f.ImagePng),
                    "image_u8" => Base64(v, p.Name, out f.ImageU8),
                    "segmap_png" => Base64(v, p.Name, out f.SegmapPng),
                    "width" => Int(v, p.Name, out f.Width),
                    "height" => Int(v, p.Name, out f.Height),
                    "channels" => Int(v, p.Name, out f.Channels),
                    "label" => Label(v, f),
                    "coherence" => Number(v, p.Name, out f.Coherence),
                    "score" => Number(v, p.Name, out f.Score),
                    "caption" => Text(v, p.Name, out f.Caption),
                    _ => null, // unknown fields are ignored: newer producers may add some
                };
                if (reason is not null) return null;
            }
            reason = null;
            return f;
        }

        static string? Text(JsonElement v, string name, out string? s)
        {
            s = v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            return s is null ? $"field '{name}' must be a string" : null;
        }

        static string? Base64(JsonElement v, string name, out byte[]? bytes)
        {
            bytes = null;
            if (v.ValueKind != JsonValueKind.String) return $"field '{name}' must be a base64 string";
            return v.TryGetBytesFromBase64(out bytes) ? null : $"bad base64 in {name}";
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

        static string? Label(JsonElement v, PairFields f)
        {
            if (v.ValueKind == JsonValueKind.String)
            {
                f.LabelName = v.GetString();
                return null;
            }
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i))
            {
                f.LabelIndex = i;
                return null;
            }
            return "field 'label' must be a class index (integer) or a class name (string)";
        }
    }

    static PairFields? ReadProtobuf(byte[] value, out string? reason)
    {
        Protocol.Pair p;
        try
        {
            p = Protocol.Pair.Parser.ParseFrom(value);
        }
        catch (InvalidProtocolBufferException e)
        {
            reason = $"malformed protobuf: {FirstLine(e.Message)}";
            return null;
        }
        if (p.Width > int.MaxValue || p.Height > int.MaxValue || p.Channels > int.MaxValue)
        {
            reason = "image_u8 width, height or channels is out of range";
            return null;
        }
        reason = null;
        return new PairFields
        {
            Id = p.Id.Length > 0 ? p.Id : null,
            Model = p.Model.Length > 0 ? p.Model : null,
            ImagePng = p.ImagePng.IsEmpty ? null : p.ImagePng.ToByteArray(),
            ImageU8 = p.ImageU8.IsEmpty ? null : p.ImageU8.ToByteArray(),
            Width = (int)p.Width,
            Height = (int)p.Height,
            Channels = (int)p.Channels,
            LabelIndex = p.HasLabelIndex ? p.LabelIndex : null,
            LabelName = p.HasLabelName ? p.LabelName : null,
            Coherence = p.HasCoherence ? p.Coherence : null,
            Score = p.HasScore ? p.Score : null,
            Caption = p.Caption.Length > 0 ? p.Caption : null,
            SegmapPng = p.SegmapPng.IsEmpty ? null : p.SegmapPng.ToByteArray(),
        };
    }

    PairDecodeResult Validate(PairFields f, PairSource source)
    {
        // Which models: the named one, or every model of the condition kind the pair carries.
        ModelSpec? named = null;
        if (f.Model is not null && !catalog.TryGet(f.Model, out named))
            return PairDecodeResult.Reject($"unknown model '{f.Model}'");
        bool hasLabel = f.LabelIndex is not null || f.LabelName is not null;
        string kind = named?.Kind ?? (hasLabel ? "class" : f.Caption is not null ? "text" : f.SegmapPng is not null ? "segmap" : "class");
        if (kind == "class" && !hasLabel)
            return PairDecodeResult.Reject("missing label: class models need 'label' (a class index or name)");
        var models = catalog.For(f.Model, kind).ToArray();
        if (models.Length == 0)
            return PairDecodeResult.Reject($"no configured model takes {kind} pairs");
        if (kind != "class")
            return PairDecodeResult.Reject($"{kind} pairs are not supported yet");

        // The condition: a class index or name, valid for every model the pair goes to.
        var classes = models[0].ClassNames;
        int label;
        if (f.LabelIndex is int index)
        {
            if (index < 0 || index >= classes.Count)
                return PairDecodeResult.Reject($"label {index} outside 0..{classes.Count - 1}");
            label = index;
        }
        else
        {
            try { label = Model.ClassNames.Parse(f.LabelName!, classes); }
            catch (ArgumentException) { return PairDecodeResult.Reject($"unknown label '{Shorten(f.LabelName!)}'"); }
        }
        foreach (var m in models.Skip(1))
            if (!m.ClassNames.SequenceEqual(classes))
                return PairDecodeResult.Reject($"models {models[0].Id} and {m.Id} have different classes; name the model");

        if (f.Coherence is double c)
        {
            if (!double.IsFinite(c)) return PairDecodeResult.Reject($"coherence {Num(c)} is not a finite number");
            if (c is < 0 or > 1) return PairDecodeResult.Reject($"coherence {Num(c)} outside [0, 1]");
        }
        if (f.Score is double s && !double.IsFinite(s))
            return PairDecodeResult.Reject($"score {Num(s)} is not a finite number");

        // The image, converted to the models' shape.
        var shape = models[0].ImageShape;
        foreach (var m in models.Skip(1))
            if (m.ImageShape != shape)
                return PairDecodeResult.Reject($"models {models[0].Id} and {m.Id} have different image shapes; name the model");
        if (f.ImagePng is not null && f.ImageU8 is not null)
            return PairDecodeResult.Reject("both image_png and image_u8 given; send one");
        byte[]? pixels;
        string? reason;
        if (f.ImagePng is not null)
            pixels = ImageConversion.FromEncoded(f.ImagePng, "image_png", shape, Options.MaxImageSide, out reason);
        else if (f.ImageU8 is not null)
        {
            if (f.Width <= 0 || f.Height <= 0 || f.Channels <= 0)
                return PairDecodeResult.Reject("image_u8 needs positive width, height and channels");
            pixels = ImageConversion.FromRaw(f.ImageU8, f.Width, f.Height, f.Channels, shape, Options.MaxImageSide, out reason);
        }
        else return PairDecodeResult.Reject("missing image: give image_png or image_u8");
        if (pixels is null) return PairDecodeResult.Reject(reason!);

        return PairDecodeResult.Accept(new IncomingPair(
            Id: f.Id ?? source.ToString(),
            ModelIds: models.Select(m => m.Id).ToArray(),
            Label: label,
            Coherence: f.Coherence is double coh ? (float)coh : null,
            Score: f.Score,
            Pixels: pixels,
            Channels: shape.Channels,
            Height: shape.Height,
            Width: shape.Width,
            Source: source));
    }

    static string Num(double x) => x.ToString("R", CultureInfo.InvariantCulture);

    static string Shorten(string s) => s.Length <= 64 ? s : s[..61] + "...";

    /// <summary>An exception message short enough for a header: first line, first sentence when long, at most 160 characters.</summary>
    static string FirstLine(string s)
    {
        int nl = s.IndexOfAny(['\r', '\n']);
        if (nl >= 0) s = s[..nl];
        int stop = s.IndexOf(". ", StringComparison.Ordinal);
        if (s.Length > 120 && stop > 0) s = s[..(stop + 1)];
        return s.Length <= 160 ? s : s[..157] + "...";
    }
}
