using CadStream.Catalog;
using TorchSharp;
using static TorchSharp.torch;

namespace CadStream.Model;

/// <summary>Captions' token states as the tensors a text model reads.</summary>
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
