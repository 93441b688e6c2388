using CadStream.Catalog;

namespace CadStream.Text;

/// <summary>
/// A <see cref="TokenBank"/> as the captions of a pair set: pair i's caption is the bank's caption i, or
/// <c>captionOf[i]</c> when pairs share captions (each distinct caption is then encoded once).
/// </summary>
public sealed class TokenBankCaptions : ICaptionStates
{
    private readonly TokenBank bank;
    private readonly int[]? captionOf;

    public TokenBankCaptions(TokenBank bank, int[]? captionOf = null)
    {
        if (captionOf is not null && captionOf.Any(c => c < 0 || c >= bank.Count))
            throw new ArgumentException($"a pair names a caption outside the bank's 0..{bank.Count - 1}");
        this.bank = bank;
        this.captionOf = captionOf;
    }

    public int Width => bank.Width;

    public (float[] States, bool[] Mask, int Length) Gather(ReadOnlySpan<int> indices)
    {
        if (captionOf is null) return bank.Gather(indices);
        var rows = new int[indices.Length];
        for (int i = 0; i < rows.Length; i++) rows[i] = captionOf[indices[i]];
        return bank.Gather(rows);
    }
}
