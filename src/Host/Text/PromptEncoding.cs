using CadStream.Model;
using CadStream.Model.Sampling;
using CadStream.Text;
using CadStream.Catalog;

namespace CadStream.Host.Text;

/// <summary>Captions through the frozen text encoder into the arrays a text model reads.</summary>
public static class PromptEncoding
{
    public static TokenStates Encode(ITextEncoder encoder, string caption) => Encode(encoder, [caption])[0];

    public static TokenStates[] Encode(ITextEncoder encoder, IReadOnlyList<string> captions)
    {
        var encoded = encoder.Encode(captions);
        return Enumerable.Range(0, encoded.Count).Select(i =>
        {
            var row = encoded.Row(i);
            return new TokenStates(row.States, row.Tokens);
        }).ToArray();
    }

    /// <summary>
    /// A text request's second branch: the user's negative prompt, else the default of the model's mode
    /// (<see cref="GibberishNegative.DefaultFor"/>: gibberish from the request's seed for CAD, the empty caption
    /// for classic guidance).
    /// </summary>
    public static string NegativeFor(ModelSpec spec, string? negativePrompt, long seed) =>
        negativePrompt ?? GibberishNegative.DefaultFor(!spec.Mode.UsesClassicGuidance(), seed);

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
            return SampleRequest.ForPrompt(Encode(encoder, prompt), Encode(encoder, NegativeFor(spec, null, seed)), take, c, w, seed, label: k);
        };
}
