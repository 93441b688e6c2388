using System.Security.Cryptography;
using System.Text.Json;
using CadStream.Catalog;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Serving.Conditions;

namespace CadStream.Serving;

/// <summary>Answer shapes of POST /v1/models/{id}/samples.</summary>
public enum SampleFormat { Png, Json }

/// <summary>
/// The body of POST /v1/models/{id}/samples (docs/interfaces.md, "HTTP"), parsed and validated: the
/// condition of the model's kind (<see cref="IRequestField"/>: <c>label</c>, index or name; or <c>prompt</c> and
/// <c>negativePrompt</c>), <c>coherence</c> (default 1, in [0, 1]), <c>guidance</c>
/// (default the model's, in [0, 100]), <c>steps</c> (default 50, 1..1000), <c>sampler</c> (ddim | ddpm | dpm++; default the server's),
/// <c>seed</c> (optional, >= 0; random when absent), <c>count</c> (1..64, default 1),
/// <c>format</c> (png | json, default png), <c>snapshotVersion</c> (optional: a kept older version). Unknown fields are ignored.
/// </summary>
/// <param name="SnapshotVersion">A kept snapshot version the request names, or null for the one served now.</param>
/// <param name="Prompt">A text model's prompt (its request's label is then -1); null for class models.</param>
/// <param name="NegativePrompt">A text model's negative prompt, or null for the model's default (gibberish for CAD, the empty caption otherwise).</param>
public sealed record SampleBody(SampleRequest Request, SamplerSettings Sampler, SampleFormat Format, bool SeedGiven, long? SnapshotVersion = null,
    string? Prompt = null, string? NegativePrompt = null)
{
    public const int MaxCount = SampleRequest.MaxCount;

    /// <summary>Parses a body for a model of <paramref name="field"/>'s kind; on bad input returns null and a message saying what is wrong.</summary>
    public static SampleBody? Parse(ReadOnlySpan<byte> utf8Json, IRequestField field, ModelSpec spec, string modelId, double defaultGuidance,
        int defaultSteps, out string? error, SamplerKind defaultSampler = SamplerKind.Ddim)
    {
        using var doc = JsonBody.ParseObject(utf8Json, "{\"label\": 3}", out error);
        if (doc is null) return null;
        try { return FromJson(doc.RootElement, field, spec, modelId, defaultGuidance, defaultSteps, defaultSampler); }
        catch (BadBodyException e)
        {
            error = e.Message;
            return null;
        }
    }

    static SampleBody FromJson(JsonElement root, IRequestField field, ModelSpec spec, string modelId, double defaultGuidance, int defaultSteps,
        SamplerKind defaultSampler)
    {
        var condition = field.Read(root, spec, modelId);
        double coherence = Number(root, "coherence", 1.0);
        if (!(coherence >= 0 && coherence <= 1)) throw new BadBodyException($"coherence must be in [0, 1] (got {coherence})");
        double guidance = Number(root, "guidance", defaultGuidance);
        if (!(guidance >= 0 && guidance <= 100)) throw new BadBodyException($"guidance must be in [0, 100] (got {guidance})");
        long steps = Integer(root, "steps", defaultSteps);
        if (steps is < 1 or > SamplerSettings.MaxSteps) throw new BadBodyException($"steps must be in 1..{SamplerSettings.MaxSteps} (got {steps})");
        long count = Integer(root, "count", 1);
        if (count is < 1 or > MaxCount) throw new BadBodyException($"count must be in 1..{MaxCount} (got {count})");

        SamplerKind sampler;
        try { sampler = SamplerKinds.Parse(Text(root, "sampler", defaultSampler.Name())); }
        catch (ArgumentException e) { throw new BadBodyException($"sampler: {e.Message}"); }
        var format = Text(root, "format", "png").Trim().ToLowerInvariant() switch
        {
            "png" => SampleFormat.Png,
            "json" => SampleFormat.Json,
            var f => throw new BadBodyException($"format must be png or json (got '{f}')"),
        };

        bool seedGiven = Has(root, "seed");
        long seed;
        if (seedGiven)
        {
            seed = Integer(root, "seed", 0);
            if (seed < 0) throw new BadBodyException($"seed must be >= 0 (got {seed})");
        }
        else seed = RandomNumberGenerator.GetInt32(int.MaxValue);

        long? version = null;
        if (Has(root, "snapshotVersion"))
        {
            version = Integer(root, "snapshotVersion", 0);
            if (version < 1) throw new BadBodyException($"snapshotVersion must be >= 1 (got {version})");
        }
        return new SampleBody(new SampleRequest(condition.Label, (int)count, coherence, guidance, seed), new SamplerSettings((int)steps, sampler), format, seedGiven,
            version, condition.Prompt, condition.NegativePrompt);
    }

    /// <summary>Whether the body names the field (a JSON null counts as absent).</summary>
    internal static bool Has(JsonElement root, string name) => root.TryGetProperty(name, out var e) && e.ValueKind != JsonValueKind.Null;

    static double Number(JsonElement root, string name, double fallback)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return fallback;
        if (e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out var d) && double.IsFinite(d)) return d;
        throw new BadBodyException($"{name} must be a number");
    }

    static long Integer(JsonElement root, string name, long fallback)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return fallback;
        if (e.ValueKind == JsonValueKind.Number)
        {
            if (e.TryGetInt64(out var n)) return n;
            // 3.0 is an integer too; 3.5 and 1e30 are not.
            if (e.TryGetDouble(out var d) && d == Math.Floor(d) && Math.Abs(d) < 9e15) return (long)d;
        }
        throw new BadBodyException($"{name} must be an integer");
    }

    static string Text(JsonElement root, string name, string fallback)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return fallback;
        return e.ValueKind == JsonValueKind.String ? StringOf(e, name) : throw new BadBodyException($"{name} must be a string");
    }

    /// <summary>
    /// A JSON string's text. The body is UTF-8 by then, but an escape of half a surrogate pair (<c>"\ud800"</c>)
    /// is still no text, and reading it would throw.
    /// </summary>
    internal static string StringOf(JsonElement e, string name)
    {
        try { return e.GetString()!; }
        catch (InvalidOperationException) { throw new BadBodyException($"{name} is not valid text: it escapes half a surrogate pair (such as \\ud800)"); }
    }
}
