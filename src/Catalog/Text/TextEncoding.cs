namespace CadStream.Catalog.Text;

/// <summary>
/// A frozen text encoder: captions in, per-token states (what the denoiser cross-attends to) and one
/// pooled vector per caption out. Implementations are thread-safe.
/// </summary>
public interface ITextEncoder
{
    /// <summary>Name and SHA-256 of the weights: two encoders with the same identity give the same vectors.
    /// A snapshot stores it and refuses to load under another one.</summary>
    string Identity { get; }

    /// <summary>Width of a token state and of the pooled vector (384 for MiniLM-L6).</summary>
    int Width { get; }

    /// <summary>Most tokens per caption, [CLS] and [SEP] included; longer captions are cut.</summary>
    int MaxTokens { get; }

    TextEncoding Encode(IReadOnlyList<string> captions);
}

/// <summary>
/// One caption's encoding, unpadded: <see cref="Tokens"/> x width states (row-major) and the pooled
/// vector (mean over the tokens, L2-normalised). What a cache keeps per caption.
/// </summary>
public sealed record TextEmbedding(int Tokens, float[] States, float[] Pooled)
{
    public int Width => Pooled.Length;
}

/// <summary>
/// A batch of encoded captions, padded to the longest: <see cref="States"/> is [Count, Length, Width]
/// row-major with zeros at padding, <see cref="Mask"/> [Count, Length] is true at real tokens,
/// <see cref="Pooled"/> is [Count, Width]. Plain arrays: the model project makes tensors of them.
/// </summary>
public sealed class TextEncoding
{
    public int Count { get; }
    /// <summary>Padded token count T of the batch.</summary>
    public int Length { get; }
    public int Width { get; }
    public float[] States { get; }
    public bool[] Mask { get; }
    public float[] Pooled { get; }
    /// <summary>Real tokens of each caption (its mask's true count).</summary>
    public int[] TokenCounts { get; }

    public TextEncoding(int count, int length, int width, float[] states, bool[] mask, float[] pooled, int[] tokenCounts)
    {
        if (count < 0 || length < 0 || width <= 0) throw new ArgumentException($"bad shape [{count}, {length}, {width}]");
        if (states.Length != (long)count * length * width) throw new ArgumentException($"states hold {states.Length} values, expected {count}x{length}x{width}");
        if (mask.Length != count * length) throw new ArgumentException($"mask holds {mask.Length} values, expected {count}x{length}");
        if (pooled.Length != count * width) throw new ArgumentException($"pooled holds {pooled.Length} values, expected {count}x{width}");
        if (tokenCounts.Length != count) throw new ArgumentException($"{tokenCounts.Length} token counts for {count} captions");
        Count = count;
        Length = length;
        Width = width;
        States = states;
        Mask = mask;
        Pooled = pooled;
        TokenCounts = tokenCounts;
    }

    public ReadOnlySpan<float> PooledOf(int i) => Pooled.AsSpan(i * Width, Width);

    /// <summary>Caption i's states, padded: Length x Width.</summary>
    public ReadOnlySpan<float> StatesOf(int i) => States.AsSpan(i * Length * Width, Length * Width);

    /// <summary>Caption i alone, unpadded (copies).</summary>
    public TextEmbedding Row(int i)
    {
        int t = TokenCounts[i];
        return new TextEmbedding(t, States.AsSpan(i * Length * Width, t * Width).ToArray(), PooledOf(i).ToArray());
    }

    /// <summary>Stacks single captions into a batch padded to the longest (zeros, mask false).</summary>
    public static TextEncoding Pack(IReadOnlyList<TextEmbedding> rows, int width)
    {
        foreach (var r in rows)
            if (r.Width != width || r.States.Length != r.Tokens * width)
                throw new ArgumentException($"a row of {r.Tokens} tokens x {r.Width} does not fit width {width}");
        int n = rows.Count;
        var (states, mask, length) = TokenPadding.Pad(n, width, i => rows[i].Tokens, (i, into) => rows[i].States.CopyTo(into));
        var pooled = new float[n * width];
        var counts = new int[n];
        for (int i = 0; i < n; i++)
        {
            rows[i].Pooled.CopyTo(pooled.AsSpan(i * width));
            counts[i] = rows[i].Tokens;
        }
        return new TextEncoding(n, length, width, states, mask, pooled, counts);
    }
}
