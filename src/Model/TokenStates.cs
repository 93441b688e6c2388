using TorchSharp;
using static TorchSharp.torch;

namespace CadStream.Model;

/// <summary>
/// One caption as a text model reads it: the frozen text encoder's per-token states, <see cref="Tokens"/>
/// rows of <see cref="Width"/> floats, row-major, unpadded, rounded to half precision. The offline token
/// bank keeps states in half precision (half the memory); rounding here too makes a caption the same numbers
/// to a model whichever path brought it (offline training, a node's trainer, serving). The model project
/// never runs the encoder; its callers hand it these arrays.
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

    /// <summary>
    /// Captions padded to the longest: states (B, T, width) with zeros at padding and the mask (B, T), true
    /// at real tokens, on <paramref name="device"/>.
    /// </summary>
    public static (Tensor States, Tensor Mask) Pad(IReadOnlyList<TokenStates> rows, Device device, int minLength = 1)
    {
        if (rows.Count == 0) throw new ArgumentException("no captions to pad");
        int width = rows[0].Width;
        int length = Math.Max(minLength, rows.Max(r => r.Tokens));
        var states = new float[rows.Count * length * width];
        var mask = new bool[rows.Count * length];
        for (int i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            if (r.Width != width) throw new ArgumentException($"caption {i} has token states of width {r.Width}, the first has {width}");
            r.States.CopyTo(states, i * length * width);
            mask.AsSpan(i * length, r.Tokens).Fill(true);
        }
        return (tensor(states, [rows.Count, length, width]).to(device), tensor(mask, [rows.Count, length]).to(device));
    }
}
