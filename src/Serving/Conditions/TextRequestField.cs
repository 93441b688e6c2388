using System.Text.Json;
using CadStream.Catalog;
using CadStream.Catalog.Judging;
using CadStream.Catalog.Text;
using CadStream.Model.Sampling;

namespace CadStream.Serving.Conditions;

/// <summary>
/// A text model's request names <c>prompt</c> and maybe <c>negativePrompt</c> (default: <see cref="NegativePrompts.For"/>),
/// read through the node's one frozen text encoder, the one its snapshots must have learnt from.
/// </summary>
public sealed class TextRequestField(ITextEncoder? encoder, IQualityPrompts? prompts) : IRequestField
{
    /// <summary>Longest prompt or negative prompt, in characters (Unicode code points).</summary>
    public const int MaxPromptLength = 1000;

    public ConditionKind Kind => ConditionKind.Text;

    public BodyCondition Read(JsonElement root, ModelSpec spec, string modelId)
    {
        if (SampleBody.Has(root, "label")) throw new BadBodyException($"model {modelId} is conditioned on text: send a prompt, not a label");
        if (!SampleBody.Has(root, "prompt")) throw new BadBodyException($"prompt is required: text of 1 to {MaxPromptLength} characters");
        var prompt = PromptText(root.GetProperty("prompt"), "prompt", allowEmpty: false);
        var negative = SampleBody.Has(root, "negativePrompt") ? PromptText(root.GetProperty("negativePrompt"), "negativePrompt", allowEmpty: true) : null;
        return new BodyCondition(Prompt: prompt, NegativePrompt: negative);
    }

    static string PromptText(JsonElement e, string name, bool allowEmpty)
    {
        if (e.ValueKind != JsonValueKind.String) throw new BadBodyException($"{name} must be a string");
        string text = SampleBody.StringOf(e, name);
        int length = text.EnumerateRunes().Count();
        if (!allowEmpty && text.Trim().Length == 0) throw new BadBodyException($"{name} is empty: text of 1 to {MaxPromptLength} characters");
        if (length > MaxPromptLength) throw new BadBodyException($"{name} of {length} characters exceeds {MaxPromptLength}");
        return text;
    }

    public string? Unavailable(string modelId) => encoder is null ? $"model {modelId} reads text, and this node has no text encoder" : null;

    public SampleRequest Request(SampleBody body, ModelSpec spec)
    {
        var r = body.Request;
        var states = Encoder.TokenStatesOf([body.Prompt!, NegativePrompts.For(spec, body.NegativePrompt, r.Seed)]);
        return SampleRequest.ForPrompt(states[0], states[1], r.Count, r.Coherence, r.Guidance, r.Seed);
    }

    public string? EncoderIdentity => encoder?.Identity;

    public bool CanMeasure => encoder is not null && prompts is not null;

    public SampleRequest QualityRequest(ModelSpec spec, int label, int count, double coherence, double guidance, long seed)
    {
        var states = Encoder.TokenStatesOf([prompts!.For(spec, label), NegativePrompts.For(spec, null, seed)]);
        return SampleRequest.ForPrompt(states[0], states[1], count, coherence, guidance, seed, label);
    }

    ITextEncoder Encoder => encoder ?? throw new InvalidOperationException("this node has no text encoder");
}
