using System.Globalization;
using System.Text;
using CadStream.Catalog;
using CadStream.Imaging;
using CadStream.Ingress.Conditions;
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
    /// <summary>
    /// Longest caption, in characters (Unicode code points). At most <see cref="CaptionLengthCeiling"/>: a batch
    /// of 32 pairs with captions of 4-byte characters must still fit one remoting frame between nodes.
    /// </summary>
    public int MaxCaptionLength { get; init; } = 1000;

    /// <summary>The largest <see cref="MaxCaptionLength"/> allowed.</summary>
    public const int CaptionLengthCeiling = 4000;

    public void Validate()
    {
        if (MaxValueBytes < 1) throw new ArgumentException("Ingress:MaxValueBytes must be positive");
        if (MaxImageSide < 1) throw new ArgumentException("Ingress:MaxImageSide must be positive");
        if (MaxPixels < 1) throw new ArgumentException("Ingress:MaxPixels must be positive");
        if (MaxIdLength < 1) throw new ArgumentException("Ingress:MaxIdLength must be positive");
        if (MaxCaptionLength is < 1 or > CaptionLengthCeiling)
            throw new ArgumentException($"Ingress:MaxCaptionLength must be in 1..{CaptionLengthCeiling} (got {MaxCaptionLength})");
    }
}

/// <summary>
/// Turns a Kafka record of cad.pairs into a validated <see cref="IncomingPair"/>, or a short
/// reason for the dead-letter topic: reads the value (<see cref="PairRecords"/>), routes it by the
/// conditions it carries and checks each against the models it goes to (one field per kind,
/// <see cref="ConditionFields"/>), and converts its image to their shape. Never throws on bad
/// input. Thread-safe.
/// </summary>
public sealed class PairDecoder
{
    private readonly ModelCatalog catalog;
    private readonly ConditionFields fields;

    public PairDecoderOptions Options { get; }

    public PairDecoder(ModelCatalog catalog, PairDecoderOptions? options = null)
    {
        this.catalog = catalog;
        Options = options ?? new PairDecoderOptions();
        Options.Validate();
        fields = new ConditionFields(Options);
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
        try
        {
            var record = PairRecords.Decode(value, contentType, out var reason);
            return record is null ? PairDecodeResult.Reject(reason!) : Validate(record, position);
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
        // A condition is held to its bounds whichever models the pair goes to (a caption's length): a record is valid or not on its own.
        foreach (var field in fields.All)
            if (field.RecordProblem(f) is { } problem) return PairDecodeResult.Reject(problem);

        var (models, rejection) = Route(f);
        if (rejection is not null) return PairDecodeResult.Reject(rejection);

        // Each kind's condition, valid for every model of that kind the pair goes to.
        var byKind = models.GroupBy(m => m.Kind).Select(g => (Field: fields.For(g.Key), Models: (IReadOnlyList<ModelSpec>)g.ToArray()))
            .OrderBy(k => k.Field.Kind).ToArray();
        foreach (var (field, ofKind) in byKind)
            if (field.Check(f, ofKind) is { } problem) return PairDecodeResult.Reject(problem);

        if (f.Coherence is double c)
        {
            if (!double.IsFinite(c)) return PairDecodeResult.Reject($"coherence {Num(c)} is not a finite number");
            if (c is < 0 or > 1) return PairDecodeResult.Reject($"coherence {Num(c)} outside [0, 1]");
        }
        if (f.Score is double s && !double.IsFinite(s))
            return PairDecodeResult.Reject($"score {Num(s)} is not a finite number");

        // The image, converted to the models' shape.
        (int Channels, int Height, int Width) shape = (models[0].Channels, models[0].ImageSize, models[0].ImageSize);
        var resize = Policy(models[0]);
        foreach (var m in models.Skip(1))
            if ((m.Channels, m.ImageSize, m.ImageSize) != shape || Policy(m) != resize)
                return PairDecodeResult.Reject($"models {models[0].Id} and {m.Id} have different image shapes or Resize; name the model");
        // `image_png` is the older name of `image`: either takes any format; one image per record.
        var given = new[] { (Field: "image", Bytes: f.Image), (Field: "image_png", Bytes: f.ImagePng), (Field: "image_u8", Bytes: f.ImageU8) }
            .Where(g => g.Bytes is not null).ToArray();
        if (given.Length > 1)
            return PairDecodeResult.Reject($"both {given[0].Field} and {given[1].Field} given; send one");
        byte[]? pixels;
        string? reason;
        if ((f.Image ?? f.ImagePng) is { } encoded)
            pixels = ImageConversion.FromEncoded(encoded, f.Image is not null ? "image" : "image_png", shape, Limits, out reason, resize);
        else if (f.ImageU8 is not null)
        {
            if (f.Width <= 0 || f.Height <= 0 || f.Channels <= 0)
                return PairDecodeResult.Reject("image_u8 needs positive width, height and channels");
            pixels = ImageConversion.FromRaw(f.ImageU8, f.Width, f.Height, f.Channels, shape, Limits, out reason, resize);
        }
        else return PairDecodeResult.Reject("missing image: give image (or image_png) or image_u8");
        if (pixels is null) return PairDecodeResult.Reject(reason!);

        var pair = new IncomingPair(
            Id: f.Id ?? position.ToString(),
            ModelIds: models.Select(m => m.Id).ToArray(),
            Label: null,
            Coherence: f.Coherence is double coh ? (float)coh : null,
            Score: f.Score,
            Pixels: pixels,
            Channels: shape.Channels,
            Height: shape.Height,
            Width: shape.Width,
            Position: position);
        foreach (var (field, ofKind) in byKind) pair = field.Apply(f, ofKind, pair);
        return PairDecodeResult.Accept(pair);
    }

    /// <summary>
    /// The models a pair goes to, or why it goes nowhere. A named model takes the pair if it carries that
    /// model's condition; otherwise every model of each condition kind the pair carries does: a label
    /// goes to the class models, a caption to the text models, both to both.
    /// </summary>
    (ModelSpec[] Models, string? Rejection) Route(PairRecord f)
    {
        if (f.Model is not null)
        {
            if (!catalog.TryGet(f.Model, out var named)) return ([], $"unknown model '{ShortName(f.Model)}'");
            if (!named.Kind.IsAvailable()) return ([], $"{named.Kind.Name()} pairs are not supported yet");
            var field = fields.For(named.Kind);
            return field.Carries(f) ? ([named], null) : ([], field.Missing);
        }
        var kinds = fields.All.Where(field => field.Carries(f)).Select(field => field.Kind).ToList();
        if (kinds.Count == 0)
        {
            if (f.SegmapPng is not null) return ([], "segmap pairs are not supported yet");
            // Say what the configured models need: a class-only deployment has never heard of captions.
            var configured = fields.All.Where(field => catalog.For(null, field.Kind).Any()).ToArray();
            return ([], configured.Length <= 1
                ? (configured.FirstOrDefault() ?? fields.All[0]).Missing
                : $"missing condition: {string.Join(", ", configured.Select(field => field.Needs))}");
        }
        var models = kinds.SelectMany(k => catalog.For(null, k)).ToArray();
        return models.Length == 0 ? ([], $"no configured model takes {string.Join(" or ", kinds.Select(k => k.Name()))} pairs") : (models, null);
    }

    ImageLimits Limits => new(Options.MaxImageSide, Options.MaxPixels);

    static ResizePolicy Policy(ModelSpec m) => ResizePolicyNames.Normalize(m.Resize) switch
    {
        ResizePolicyNames.Pad => ResizePolicy.Pad,
        ResizePolicyNames.Stretch => ResizePolicy.Stretch,
        _ => ResizePolicy.CenterCrop,
    };

    static string Num(double x) => x.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>A record's own name echoed in a reason, cut: the reason is a header, not a copy of the field.</summary>
    static string ShortName(string s) => s.Length <= 64 ? s : s[..61] + "...";
}
