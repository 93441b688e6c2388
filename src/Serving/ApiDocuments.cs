using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CadStream.Serving;

// The typed bodies and answers of the HTTP API (docs/interfaces.md, "HTTP"). The endpoints answer with these records
// and declare them, so the OpenAPI document (GET /openapi/v1.json) is generated from the same types the clients get.

/// <summary>Every error: 4xx for bad input, missing keys, unknown models; 5xx for what the server cannot do now.</summary>
public sealed record ErrorAnswer(string Error);

/// <summary>
/// 429: the model's queue is full (<c>error</c> alone), or the request costs more than Serving:MaxRequestCost (images x steps):
/// then also what it costs and the limit.
/// </summary>
public sealed record CostErrorAnswer(string Error)
{
    public long Cost { get; init; }
    public long Limit { get; init; }
}

/// <summary>
/// The body of POST /v1/models/{id}/samples as the document describes it: exactly the fields <see cref="SampleBody.Parse"/>
/// reads. The endpoint parses the body itself, for precise 400 messages; this record only says what the fields are.
/// </summary>
public sealed record SampleBodyDocument
{
    /// <summary>A class index or a class name (its schema says so: OpenApiDescription).</summary>
    public JsonElement? Label { get; init; }

    [Description("Text models: what to draw, 1 to 1000 characters. Class models refuse it.")]
    [StringLength(Conditions.TextRequestField.MaxPromptLength, MinimumLength = 1)]
    public string? Prompt { get; init; }

    [Description("Text models: what to steer away from, 0 to 1000 characters; by default random gibberish for CAD models, the empty caption otherwise.")]
    [StringLength(Conditions.TextRequestField.MaxPromptLength)]
    public string? NegativePrompt { get; init; }

    [Description("Segmap models, which no node serves yet (class and text models ignore it): a base64 grey PNG of class indices.")]
    [Base64String]
    public string? Segmap { get; init; }

    [Description("Segmap models, optional (class and text models ignore it): a base64 grey PNG of per-pixel coherence, 0..255 for 0..1.")]
    [Base64String]
    public string? CoherenceMap { get; init; }

    [Description("How far the condition is to be trusted: 1 follows it, 0 ignores it.")]
    [Range(0.0, 1.0), DefaultValue(1.0)]
    public double? Coherence { get; init; }

    [Description("Coherence-aware classifier-free guidance; by default the model's.")]
    [Range(0.0, 100.0)]
    public double? Guidance { get; init; }

    [Description("Reverse steps; by default Serving:DefaultSteps.")]
    [Range(1, Model.Scheduling.SamplerSettings.MaxSteps)]
    public int? Steps { get; init; }

    [Description("The reverse step; by default Serving:DefaultSampler.")]
    [AllowedValues("ddim", "ddpm", "dpm++")]
    public string? Sampler { get; init; }

    [Description("The same seed, inputs and snapshot give the same images; random when absent (the answer says which).")]
    [Range(typeof(long), "0", "9223372036854775807")]
    public long? Seed { get; init; }

    [Description("How many images.")]
    [Range(1, SampleBody.MaxCount), DefaultValue(1)]
    public int? Count { get; init; }

    [Description("A kept older snapshot version to sample from; by default the one served now.")]
    [Range(typeof(long), "1", "9223372036854775807")]
    public long? SnapshotVersion { get; init; }

    [Description("png: one PNG grid; json: the images one by one, base64.")]
    [AllowedValues("png", "json"), DefaultValue("png")]
    public string? Format { get; init; }

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    /// <summary>A request for a class model, as the document shows it (and a test sends it).</summary>
    public static readonly SampleBodyDocument ClassExample = new()
    {
        Label = JsonSerializer.SerializeToElement(7), Coherence = 1, Guidance = 1, Steps = 15, Sampler = "dpm++", Seed = 42, Count = 4, Format = "png",
    };

    /// <summary>A request for a text model.</summary>
    public static readonly SampleBodyDocument TextExample = new()
    {
        Prompt = "a photo of some sneakers", Coherence = 1, Guidance = 3, Steps = 15, Sampler = "dpm++", Seed = 42, Count = 4, Format = "json",
    };

    /// <summary>The record as JSON, with only the fields it sets.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);
}

/// <summary>POST /v1/models/{id}/samples with "format": "json".</summary>
/// <param name="Images">Base64 PNGs, one per image.</param>
public sealed record SampleImages(IReadOnlyList<string> Images, long SnapshotVersion, long Seed);

/// <summary>One served model, in GET /v1/models.</summary>
/// <param name="Kind">class or text.</param>
/// <param name="Classes">The class names (class models).</param>
/// <param name="Updated">When the served snapshot was made, unix milliseconds.</param>
/// <param name="KeptVersions">The versions the store keeps (a request or a pin may name one).</param>
/// <param name="SampleAccuracy">The latest live sample accuracy at coherence 1.</param>
/// <param name="CoherenceBins">What a coherence meant when the served snapshot learned: the bin table of its score-derived coherences, if any.</param>
/// <param name="TextEncoder">The text encoder a text model's snapshot learned under.</param>
public sealed record ModelInfo(string Id, string Kind, string Mode, IReadOnlyList<string> Classes, long? SnapshotVersion, long? Steps,
    long? SamplesSeen, long? Updated, double DefaultGuidance, IReadOnlyList<long> KeptVersions, long? PinnedVersion, double? SampleAccuracy,
    JsonElement? CoherenceBins, string? TextEncoder);

/// <summary>GET /v1/models/{id}/history: the recent training curve, the coherence of recent pairs, the latest live sample quality.</summary>
public sealed record HistoryDocument(string Model, IReadOnlyList<HistoryPoint> Points, CoherenceHistogram Coherence, QualityReading? Quality);

/// <summary>The coherence of the trainer's recent pairs: counts[i] pairs in [edges[i], edges[i + 1]).</summary>
public sealed record CoherenceHistogram(IReadOnlyList<double> Edges, IReadOnlyList<int> Counts);

/// <summary>A live sample quality reading, with its images.</summary>
/// <param name="At">Unix milliseconds.</param>
/// <param name="GridRows">Rows of <paramref name="Grid"/>: one per seed, one column per class.</param>
/// <param name="Grid">Base64 PNG of the first images at coherence 1.</param>
public sealed record QualityReading(long SnapshotVersion, double? Accuracy, double? AccuracyAtZero, long At, int PerClass, int Images, int GridRows,
    int Steps, string Grid);

/// <summary>The body of PUT /v1/models/{id}/pin.</summary>
/// <param name="Version">A kept snapshot version, 1 or more.</param>
public sealed record PinBody(long Version);

/// <summary>PUT and DELETE /v1/models/{id}/pin: the pin and the version served now.</summary>
public sealed record PinAnswer(string Model, long? PinnedVersion, long? SnapshotVersion);
