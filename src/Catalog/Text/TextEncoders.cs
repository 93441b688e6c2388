namespace CadStream.Catalog.Text;

/// <summary>What every caller of a text encoder does with captions it hands a text model.</summary>
public static class TextEncoders
{
    /// <summary>
    /// The one way captions become what a text model reads: each caption's unpadded token states, rounded as the
    /// offline token bank rounds them (<see cref="TokenStates"/>), so a caption gives a model the same numbers
    /// whichever path brought it (offline training, a node's trainer, a prompt, a live quality reading).
    /// </summary>
    public static TokenStates[] TokenStatesOf(this ITextEncoder encoder, IReadOnlyList<string> captions)
    {
        var encoded = encoder.Encode(captions);
        var states = new TokenStates[encoded.Count];
        for (int i = 0; i < states.Length; i++)
        {
            var row = encoded.Row(i);
            states[i] = new TokenStates(row.States, row.Tokens);
        }
        return states;
    }

    /// <inheritdoc cref="TokenStatesOf(ITextEncoder, IReadOnlyList{string})"/>
    public static TokenStates TokenStatesOf(this ITextEncoder encoder, string caption) => encoder.TokenStatesOf([caption])[0];
}
