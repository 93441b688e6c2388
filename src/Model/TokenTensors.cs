using CadStream.Catalog;
using CadStream.Catalog.Text;
using static TorchSharp.torch;

namespace CadStream.Model;

/// <summary>Captions' token states as the tensors a text model reads (padded by <see cref="TokenPadding"/>).</summary>
public static class TokenTensors
{
    /// <summary>
    /// Captions padded to the longest: states (B, T, width) with zeros at padding and the mask (B, T), true
    /// at real tokens, on <paramref name="device"/>.
    /// </summary>
    public static (Tensor States, Tensor Mask) Pad(IReadOnlyList<TokenStates> rows, Device device, int minLength = 1)
    {
        if (rows.Count == 0) throw new ArgumentException("no captions to pad");
        int width = rows[0].Width;
        for (int i = 1; i < rows.Count; i++)
            if (rows[i].Width != width) throw new ArgumentException($"caption {i} has token states of width {rows[i].Width}, the first has {width}");
        var (states, mask, length) = TokenPadding.Pad(rows.Count, width, i => rows[i].Tokens, (i, into) => rows[i].States.CopyTo(into), minLength);
        return (tensor(states, [rows.Count, length, width]).to(device), tensor(mask, [rows.Count, length]).to(device));
    }

    /// <summary>Padded states (B, T, width) and mask (B, T) widened with padding to at least <paramref name="length"/> tokens.</summary>
    public static (Tensor States, Tensor Mask) Widen(Tensor states, Tensor mask, int length)
    {
        long more = length - states.shape[1];
        if (more <= 0) return (states, mask);
        return (nn.functional.pad(states, [0, 0, 0, more]), nn.functional.pad(mask.to(ScalarType.Int8), [0, more]).to(ScalarType.Bool));
    }
}
