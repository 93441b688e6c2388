using CadStream.Model;
using CadStream.Model.Sampling;
using CadStream.Text;
using CadStream.Catalog;
using CadStream.Catalog.Text;

namespace CadStream.Host.Text;

/// <summary>Held-out prompts through the frozen text encoder into a text model's evaluation requests.</summary>
public static class PromptEncoding
{
    /// <summary>
    /// A text model's evaluation requests: class k is asked for with one of its held-out prompts (wordings no
    /// training caption uses, in turn per chunk), against the mode's default negative, and labelled k so the
    /// classifier's agreement is the prompt accuracy.
    /// </summary>
    public static Func<int, int, double, double, long, int, SampleRequest> HeldOutRequests(ITextEncoder encoder, ModelSpec spec) =>
        (k, take, c, w, seed, chunk) =>
        {
            var prompts = Data.Captions.CaptionGenerator.HeldOutPrompts(k);
            var prompt = prompts[chunk % prompts.Count];
            return SampleRequest.ForPrompt(encoder.TokenStatesOf(prompt), encoder.TokenStatesOf(NegativePrompts.For(spec, null, seed)), take, c, w, seed, label: k);
        };
}
