using CadStream.Catalog;
using CadStream.Catalog.Text;
using CadStream.Model.Sampling;

namespace CadStream.Serving;

/// <summary>A text request's prompt and negative prompt (<see cref="NegativePrompts.For"/>) through the node's frozen text encoder.</summary>
public static class PromptRequests
{
    public static SampleRequest Encode(ITextEncoder encoder, SampleBody body, ModelSpec spec)
    {
        var r = body.Request;
        var states = encoder.TokenStatesOf([body.Prompt!, NegativePrompts.For(spec, body.NegativePrompt, r.Seed)]);
        return SampleRequest.ForPrompt(states[0], states[1], r.Count, r.Coherence, r.Guidance, r.Seed);
    }
}
