using CadStream.Model;
using CadStream.Text;

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
}
