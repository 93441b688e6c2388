using System.Text.Json;
using CadStream.Catalog;
using CadStream.Catalog.Judging;
using CadStream.Catalog.Text;
using CadStream.Model.Sampling;

namespace CadStream.Serving.Conditions;

/// <summary>The condition a sample request's body names: a class label, or a prompt and maybe a negative prompt.</summary>
/// <param name="Label">The class (-1 when the kind reads no label).</param>
public sealed record BodyCondition(int Label = -1, string? Prompt = null, string? NegativePrompt = null);

/// <summary>
/// One condition kind's part of serving: its fields of the sample request's body (and their 400 messages), the
/// request they make, whether this node can serve the kind, the encoder a snapshot must have learnt from, and the
/// live quality reading's request for a class. One implementation per kind, chosen by <see cref="RequestFields.For"/>;
/// the endpoint, the model hosts and the quality monitor never look at the kind.
/// </summary>
public interface IRequestField
{
    ConditionKind Kind { get; }

    /// <summary>Reads the kind's fields of the body; a field that is wrong or belongs to another kind is a <see cref="BadBodyException"/>.</summary>
    BodyCondition Read(JsonElement root, ModelSpec spec, string modelId);

    /// <summary>Why this node cannot serve a request of this kind (HTTP 503), or null.</summary>
    string? Unavailable(string modelId);

    /// <summary>The request to sample (a text request's prompts encoded: the request's own work, not the sampling thread's).</summary>
    SampleRequest Request(SampleBody body, ModelSpec spec);

    /// <summary>The identity of the text encoder a snapshot of this kind must have learnt from; null: it reads no text.</summary>
    string? EncoderIdentity { get; }

    /// <summary>Whether live sample quality can be read for models of this kind on this node.</summary>
    bool CanMeasure { get; }

    /// <summary>The live quality reading's request for class <paramref name="label"/> (fixed seed per class).</summary>
    SampleRequest QualityRequest(ModelSpec spec, int label, int count, double coherence, double guidance, long seed);
}

/// <summary>A body field that is wrong (HTTP 400); the message says which and why.</summary>
public sealed class BadBodyException(string message) : Exception(message);

/// <summary>The one place serving picks a kind's unit.</summary>
/// <param name="textEncoder">The node's frozen text encoder, or null when no model here reads text.</param>
/// <param name="qualityPrompts">The prompt a text model is asked with per class for live quality, or null.</param>
public sealed class RequestFields(ITextEncoder? textEncoder = null, IQualityPrompts? qualityPrompts = null)
{
    private readonly ClassRequestField classes = new();
    private readonly TextRequestField texts = new(textEncoder, qualityPrompts);

    public IRequestField For(ConditionKind kind) => kind switch
    {
        ConditionKind.Class => classes,
        ConditionKind.Text => texts,
        _ => throw new NotSupportedException(ConditionKinds.NotAvailable(kind)),
    };
}
