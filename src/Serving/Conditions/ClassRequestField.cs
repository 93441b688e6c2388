using System.Globalization;
using System.Text.Json;
using CadStream.Catalog;
using CadStream.Model.Sampling;

namespace CadStream.Serving.Conditions;

/// <summary>A class model's request names <c>label</c>: a class index or name.</summary>
public sealed class ClassRequestField : IRequestField
{
    public ConditionKind Kind => ConditionKind.Class;

    public BodyCondition Read(JsonElement root, ModelSpec spec, string modelId)
    {
        if (SampleBody.Has(root, "prompt") || SampleBody.Has(root, "negativePrompt"))
            throw new BadBodyException("this model is conditioned on classes: send a label, not a prompt");
        var classNames = spec.Classes;
        if (!root.TryGetProperty("label", out var labelElement) || labelElement.ValueKind == JsonValueKind.Null)
            throw new BadBodyException($"label is required: a class index 0..{classNames.Length - 1} or a name ({string.Join(", ", classNames)})");
        string labelText = labelElement.ValueKind switch
        {
            JsonValueKind.Number when labelElement.TryGetInt32(out var i) => i.ToString(CultureInfo.InvariantCulture),
            JsonValueKind.String => SampleBody.StringOf(labelElement, "label"),
            _ => throw new BadBodyException("label must be an integer class index or a class name"),
        };
        try { return new BodyCondition(Label: ClassNames.Parse(labelText, classNames)); }
        catch (ArgumentException e) { throw new BadBodyException(e.Message); }
    }

    public string? Unavailable(string modelId) => null;

    public SampleRequest Request(SampleBody body, ModelSpec spec) => body.Request;

    public string? EncoderIdentity => null;

    public bool CanMeasure => true;

    public SampleRequest QualityRequest(ModelSpec spec, int label, int count, double coherence, double guidance, long seed) =>
        new(label, count, coherence, guidance, seed);
}
