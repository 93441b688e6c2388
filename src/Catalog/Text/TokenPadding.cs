namespace CadStream.Catalog.Text;

/// <summary>
/// The one way captions of different lengths become one block: [count, length, width] states with zeros at
/// padding and a [count, length] mask, true at real tokens. An encoder's batches, the token bank's and the
/// tensors a text model reads (the model project's TokenTensors) are all padded here.
/// </summary>
public static class TokenPadding
{
    /// <summary>Writes row <paramref name="row"/>'s token states (its tokens x width values) into <paramref name="into"/>.</summary>
    public delegate void CopyRow(int row, Span<float> into);

    /// <param name="tokensOf">The real tokens of each row.</param>
    /// <param name="minLength">The padded length is at least this.</param>
    public static (float[] States, bool[] Mask, int Length) Pad(int count, int width, Func<int, int> tokensOf, CopyRow copy, int minLength = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        int length = minLength;
        for (int i = 0; i < count; i++) length = Math.Max(length, tokensOf(i));
        var states = new float[(long)count * length * width];
        var mask = new bool[count * length];
        for (int i = 0; i < count; i++)
        {
            int tokens = tokensOf(i);
            copy(i, states.AsSpan(i * length * width, tokens * width));
            mask.AsSpan(i * length, tokens).Fill(true);
        }
        return (states, mask, length);
    }
}
