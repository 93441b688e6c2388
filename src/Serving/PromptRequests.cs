using CadStream.Model;
using CadStream.Model.Sampling;
using CadStream.Text;
using CadStream.Catalog;

namespace CadStream.Serving;

/// <summary>
/// A text request's prompt and negative prompt through the node's frozen text encoder. The negative
/// defaults to seeded gibberish for a CAD model (read at c = 0) and to the empty caption for a model
/// trained with classic guidance (what its training dropped captions to).
/// </summary>
public static class PromptRequests
{
    public static SampleRequest Encode(ITextEncoder encoder, SampleBody body, ModelSpec spec)
    {
        var r = body.Request;
        string negative = body.NegativePrompt ?? GibberishNegative.DefaultFor(!spec.Mode.UsesClassicGuidance(), r.Seed);
        var e = encoder.Encode([body.Prompt!, negative]);
        return SampleRequest.ForPrompt(Row(e, 0), Row(e, 1), r.Count, r.Coherence, r.Guidance, r.Seed);
    }

    static TokenStates Row(TextEncoding e, int i)
    {
        var row = e.Row(i);
        return new TokenStates(row.States, row.Tokens);
    }
}
