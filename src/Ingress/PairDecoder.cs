using System.Globalization;
using System.Text;
using CadStream.Imaging;
using CadStream.Model;
using CadStream.Records;
using Confluent.Kafka;

namespace CadStream.Ingress;

/// <summary>Limits that protect ingress from oversized or hostile records (config section "Ingress").</summary>
public sealed record PairDecoderOptions
{
    /// <summary>Largest record value accepted, in bytes.</summary>
    public int MaxValueBytes { get; init; } = 1 << 20;
    /// <summary>Largest image side accepted (width and height), in pixels, before conversion.</summary>
    public int MaxImageSide { get; init; } = 4096;
    /// <summary>
    /// Most pixels (width x height) an image may declare; checked from its header before anything is
    /// decoded, since a PNG of a few KiB can declare gigapixels (a decompression bomb). Decoding costs about
    /// 16 bytes a pixel (RGBA plus float planes), so 1024 x 1024 is at most ~16 MiB a record, and still
    /// 256 times the pixels of the largest model (64 x 64): a large photo is accepted and scaled down.
    /// </summary>
    public long MaxPixels { get; init; } = 1024 * 1024;
    /// <summary>Longest record id, in characters: the id travels with the pair to the trainers and into logs.</summary>
    public int MaxIdLength { get; init; } = 256;

    public void Validate()
    {
        if (MaxValueBytes < 1) throw new ArgumentException("Ingress:MaxValueBytes must be positive");
        if (MaxImageSide < 1) throw new ArgumentException("Ingress:MaxImageSide must be positive");
        if (MaxPixels < 1) throw new ArgumentException("Ingress:MaxPixels must be positive");
        if (MaxIdLength < 1) throw new ArgumentException("Ingress:MaxIdLength must be positive");
    }
}

/// <summary>
/// Turns a Kafka record of cad.pairs into a validated <see cref="IncomingPair"/>, or a short
/// reason for the dead-letter topic: reads the value (<see cref="PairRecords"/>), then checks it
/// against the models it goes to and converts its image to their shape. Never throws on bad
/// input. Thread-safe.
/// </summary>
public sealed class PairDecoder
{
    private readonly ModelCatalog catalog;

    public PairDecoderOptions Options { get; }

    public PairDecoder(ModelCatalog catalog, PairDecoderOptions? options = null)
    {
        this.catalog = catalog;
        Options = options ?? new PairDecoderOptions();
        Options.Validate();
    }

    /// <summary>Decodes a consumed record (its value and its content-type header).</summary>
    public PairDecodeResult Decode(ConsumeResult<byte[]?, byte[]?> record) =>
        Decode(record.Message.Value, ContentType(record.Message.Headers), record.TopicPartitionOffset.ToPosition());

    /// <summary>The last content-type header, if any, as text.</summary>
    public static string? ContentType(Headers? headers)
    {
        if (headers is null || !headers.TryGetLastBytes(PairRecords.ContentTypeHeader, out var bytes) || bytes is null) return null;
        return Encoding.UTF8.GetString(bytes);
    }

    /// <param name="value">The record value (null for a tombstone).</param>
    /// <param name="contentType">The content-type header; null = recognise JSON by its content.</param>
    /// <param name="position">Where the record was read; also the id when the record has none.</param>
    public PairDecodeResult Decode(byte[]? value, string? contentType, RecordPosition position)
    {
        if (value is null || value.Length == 0) return PairDecodeResult.Reject("empty value");
        if (value.Length > Options.MaxValueBytes)
            return PairDecodeResult.Reject($"value of {value.Length} bytes exceeds the {Options.MaxValueBytes}-byte limit");
        var record = PairRecords.Decode(value, contentType, out var reason);
        if (record is null) return PairDecodeResult.Reject(reason!);
        try
        {
            return Validate(record, position);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A decoder bug must not stop the consumer: the record goes to the DLQ with the cause.
            return PairDecodeResult.Reject($"undecodable record ({e.GetType().Name}: {PairRecords.FirstLine(e.Message)})");
        }
    }

    PairDecodeResult Validate(PairRecord f, RecordPosition position)
    {
        if (f.Id is { } id && id.Length > Options.MaxIdLength)
            return PairDecodeResult.Reject($"id of {id.Length} characters exceeds the {Options.MaxIdLength}-character limit (Ingress:MaxIdLength)");
        // Which models: the named one, or every model of the condition kind the pair carries.
        ModelSpec? named = null;
        if (f.Model is not null && !catalog.TryGet(f.Model, out named))
            return PairDecodeResult.Reject($"unknown model '{f.Model}'");
        bool hasLabel = f.Label is not null || f.LabelName is not null;
        string kind = named?.Kind ?? (hasLabel ? "class" : f.Caption is not null ? "text" : f.SegmapPng is not null ? "segmap" : "class");
        if (kind == "class" && !hasLabel)
            return PairDecodeResult.Reject("missing label: class models need 'label' (a class index or name)");
        var models = catalog.For(f.Model, kind).ToArray();
        if (models.Length == 0)
            return PairDecodeResult.Reject($"no configured model takes {kind} pairs");
        if (kind != "class")
            return PairDecodeResult.Reject($"{kind} pairs are not supported yet");

        // The condition: a class index or name, valid for every model the pair goes to.
        var classes = models[0].Classes;
        int label;
        if (f.Label is int index)
        {
            if (index < 0 || index >= classes.Length)
                return PairDecodeResult.Reject($"label {index} outside 0..{classes.Length - 1}");
            label = index;
        }
        else
        {
            try { label = Model.ClassNames.Parse(f.LabelName!, classes); }
            catch (ArgumentException) { return PairDecodeResult.Reject($"unknown label '{Shorten(f.LabelName!)}'"); }
        }
        foreach (var m in models.Skip(1))
            if (!m.Classes.SequenceEqual(classes))
                return PairDecodeResult.Reject($"models {models[0].Id} and {m.Id} have different classes; name the model");

        if (f.Coherence is double c)
        {
            if (!double.IsFinite(c)) return PairDecodeResult.Reject($"coherence {Num(c)} is not a finite number");
            if (c is < 0 or > 1) return PairDecodeResult.Reject($"coherence {Num(c)} outside [0, 1]");
        }
        if (f.Score is double s && !double.IsFinite(s))
            return PairDecodeResult.Reject($"score {Num(s)} is not a finite number");

        // The image, converted to the models' shape.
        (int Channels, int Height, int Width) shape = (models[0].Channels, models[0].ImageSize, models[0].ImageSize);
        foreach (var m in models.Skip(1))
            if ((m.Channels, m.ImageSize, m.ImageSize) != shape)
                return PairDecodeResult.Reject($"models {models[0].Id} and {m.Id} have different image shapes; name the model");
        if (f.ImagePng is not null && f.ImageU8 is not null)
            return PairDecodeResult.Reject("both image_png and image_u8 given; send one");
        byte[]? pixels;
        string? reason;
        if (f.ImagePng is not null)
            pixels = ImageConversion.FromEncoded(f.ImagePng, "image_png", shape, Limits, out reason);
        else if (f.ImageU8 is not null)
        {
            if (f.Width <= 0 || f.Height <= 0 || f.Channels <= 0)
                return PairDecodeResult.Reject("image_u8 needs positive width, height and channels");
            pixels = ImageConversion.FromRaw(f.ImageU8, f.Width, f.Height, f.Channels, shape, Limits, out reason);
        }
        else return PairDecodeResult.Reject("missing image: give image_png or image_u8");
        if (pixels is null) return PairDecodeResult.Reject(reason!);

        return PairDecodeResult.Accept(new IncomingPair(
            Id: f.Id ?? position.ToString(),
            ModelIds: models.Select(m => m.Id).ToArray(),
            Label: label,
            Coherence: f.Coherence is double coh ? (float)coh : null,
            Score: f.Score,
            Pixels: pixels,
            Channels: shape.Channels,
            Height: shape.Height,
            Width: shape.Width,
            Position: position));
    }

    ImageLimits Limits => new(Options.MaxImageSide, Options.MaxPixels);

    static string Num(double x) => x.ToString("R", CultureInfo.InvariantCulture);

    static string Shorten(string s) => s.Length <= 64 ? s : s[..61] + "...";
}
