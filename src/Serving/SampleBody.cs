using System.Security.Cryptography;
using System.Text.Json;
using CadStream.Model;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Catalog;

namespace CadStream.Serving;

/// <summary>Answer shapes of POST /v1/models/{id}/samples.</summary>
public enum SampleFormat { Png, Json }

/// <summary>
/// The body of POST /v1/models/{id}/samples (docs/interfaces.md, "HTTP"), parsed and validated:
/// <c>label</c> (index or name, required), <c>coherence</c> (default 1, in [0, 1]), <c>guidance</c>
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
    /// <summary>Longest prompt or negative prompt, in characters (Unicode code points).</summary>
    public const int MaxPromptLength = 1000;

    /// <summary>Parses a body; on bad input returns null and a message saying what is wrong.</summary>
    public static SampleBody? Parse(ReadOnlySpan<byte> utf8Json, IReadOnlyList<string> classNames, double defaultGuidance,
        int defaultSteps, out string? error, SamplerKind defaultSampler = SamplerKind.Ddim, string? textModel = null)
    {
        using var doc = JsonBody.ParseObject(utf8Json, "{\"label\": 3}", out error);
        if (doc is null) return null;
        try { return FromJson(doc.RootElement, classNames, defaultGuidance, defaultSteps, defaultSampler, textModel); }
        catch (BadInputException e)
        {
            error = e.Message;
            return null;
        }
    }

    sealed class BadInputException(string message) : Exception(message);

    static SampleBody FromJson(JsonElement root, IReadOnlyList<string> classNames, double defaultGuidance, int defaultSteps, SamplerKind defaultSampler,
        string? textModel)
    {
        bool hasLabel = root.TryGetProperty("label", out var labelElement) && labelElement.ValueKind != JsonValueKind.Null;
        bool hasPrompt = root.TryGetProperty("prompt", out var promptElement) && promptElement.ValueKind != JsonValueKind.Null;
        bool hasNegative = root.TryGetProperty("negativePrompt", out var negativeElement) && negativeElement.ValueKind != JsonValueKind.Null;
        string? prompt = null, negative = null;
        int label = -1;
        if (textModel is not null)
        {
            if (hasLabel) throw new BadInputException($"model {textModel} is conditioned on text: send a prompt, not a label");
            if (!hasPrompt) throw new BadInputException($"prompt is required: text of 1 to {MaxPromptLength} characters");
            prompt = PromptText(promptElement, "prompt", allowEmpty: false);
            if (hasNegative) negative = PromptText(negativeElement, "negativePrompt", allowEmpty: true);
        }
        else if (hasPrompt || hasNegative) throw new BadInputException("this model is conditioned on classes: send a label, not a prompt");
        else label = ClassLabel(root, labelElement, hasLabel, classNames);
        double coherence = Number(root, "coherence", 1.0);
        if (!(coherence >= 0 && coherence <= 1)) throw new BadInputException($"coherence must be in [0, 1] (got {coherence})");
        double guidance = Number(root, "guidance", defaultGuidance);
        if (!(guidance >= 0 && guidance <= 100)) throw new BadInputException($"guidance must be in [0, 100] (got {guidance})");
        long steps = Integer(root, "steps", defaultSteps);
        if (steps is < 1 or > SamplerSettings.MaxSteps) throw new BadInputException($"steps must be in 1..{SamplerSettings.MaxSteps} (got {steps})");
        long count = Integer(root, "count", 1);
        if (count is < 1 or > MaxCount) throw new BadInputException($"count must be in 1..{MaxCount} (got {count})");

        SamplerKind sampler;
        try { sampler = SamplerKinds.Parse(Text(root, "sampler", defaultSampler.Name())); }
        catch (ArgumentException e) { throw new BadInputException($"sampler: {e.Message}"); }
        var format = Text(root, "format", "png").Trim().ToLowerInvariant() switch
        {
            "png" => SampleFormat.Png,
            "json" => SampleFormat.Json,
            var f => throw new BadInputException($"format must be png or json (got '{f}')"),
        };

        bool seedGiven = root.TryGetProperty("seed", out var seedElement) && seedElement.ValueKind != JsonValueKind.Null;
        long seed;
        if (seedGiven)
        {
            seed = Integer(root, "seed", 0);
            if (seed < 0) throw new BadInputException($"seed must be >= 0 (got {seed})");
        }
        else seed = RandomNumberGenerator.GetInt32(int.MaxValue);

        long? version = null;
        if (root.TryGetProperty("snapshotVersion", out var v) && v.ValueKind != JsonValueKind.Null)
        {
            version = Integer(root, "snapshotVersion", 0);
            if (version < 1) throw new BadInputException($"snapshotVersion must be >= 1 (got {version})");
        }
        return new SampleBody(new SampleRequest(label, (int)count, coherence, guidance, seed), new SamplerSettings((int)steps, sampler), format, seedGiven, version,
            prompt, negative);
    }

    static int ClassLabel(JsonElement root, JsonElement labelElement, bool hasLabel, IReadOnlyList<string> classNames)
    {
        if (!hasLabel)
            throw new BadInputException($"label is required: a class index 0..{classNames.Count - 1} or a name ({string.Join(", ", classNames)})");
        string labelText = labelElement.ValueKind switch
        {
            JsonValueKind.Number when labelElement.TryGetInt32(out var i) => i.ToString(System.Globalization.CultureInfo.InvariantCulture),
            JsonValueKind.String => StringOf(labelElement, "label"),
            _ => throw new BadInputException("label must be an integer class index or a class name"),
        };
        try { return ClassNames.Parse(labelText, classNames); }
        catch (ArgumentException e) { throw new BadInputException(e.Message); }
    }

    static string PromptText(JsonElement e, string name, bool allowEmpty)
    {
        if (e.ValueKind != JsonValueKind.String) throw new BadInputException($"{name} must be a string");
        string text = StringOf(e, name);
        int length = text.EnumerateRunes().Count();
        if (!allowEmpty && text.Trim().Length == 0) throw new BadInputException($"{name} is empty: text of 1 to {MaxPromptLength} characters");
        if (length > MaxPromptLength) throw new BadInputException($"{name} of {length} characters exceeds {MaxPromptLength}");
        return text;
    }

    static double Number(JsonElement root, string name, double fallback)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return fallback;
        if (e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out var d) && double.IsFinite(d)) return d;
        throw new BadInputException($"{name} must be a number");
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
        throw new BadInputException($"{name} must be an integer");
    }

    static string Text(JsonElement root, string name, string fallback)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return fallback;
        return e.ValueKind == JsonValueKind.String ? StringOf(e, name) : throw new BadInputException($"{name} must be a string");
    }

    /// <summary>
    /// A JSON string's text. The body is UTF-8 by then, but an escape of half a surrogate pair (<c>"\ud800"</c>)
    /// is still no text, and reading it would throw.
    /// </summary>
    static string StringOf(JsonElement e, string name)
    {
        try { return e.GetString()!; }
        catch (InvalidOperationException) { throw new BadInputException($"{name} is not valid text: it escapes half a surrogate pair (such as \\ud800)"); }
    }
}
