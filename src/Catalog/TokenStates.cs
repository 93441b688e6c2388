namespace CadStream.Catalog;

/// <summary>
/// One caption as a text model reads it: the frozen text encoder's per-token states, <see cref="Tokens"/>
/// rows of <see cref="Width"/> floats, row-major, unpadded, rounded to half precision. The offline token
/// bank keeps states in half precision (half the memory); rounding here too makes a caption the same numbers
/// to a model whichever path brought it (offline training, a node's trainer, serving). The model project
/// never runs the encoder; its callers hand it these arrays (<see cref="TextEncoders.TokenStates(ITextEncoder, IReadOnlyList{string})"/>).
/// </summary>
public sealed record TokenStates
{
    public float[] States { get; }
    public int Tokens { get; }
    public int Width { get; }

    /// <param name="states">The encoder's states (copied, rounded to half precision).</param>
    public TokenStates(float[] states, int tokens)
    {
        ArgumentNullException.ThrowIfNull(states);
        if (tokens < 1 || states.Length == 0 || states.Length % tokens != 0)
            throw new ArgumentException($"{states.Length} values do not make {tokens} token states");
        States = RoundToHalf(states);
        Tokens = tokens;
        Width = states.Length / tokens;
    }

    /// <summary>Each value through <see cref="Half"/> and back (round to nearest even), as the token bank stores it.</summary>
    public static float[] RoundToHalf(ReadOnlySpan<float> values)
    {
        var rounded = new float[values.Length];
        for (int i = 0; i < values.Length; i++) rounded[i] = (float)(Half)values[i];
        return rounded;
    }
}
