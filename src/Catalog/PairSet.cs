namespace CadStream.Catalog;

/// <summary>
/// The token states of a pair set's captions, by pair index, as the frozen text encoder gave them (encoded
/// ahead: a text encoder is as costly per caption as a training step). Plain arrays, safe on any thread.
/// </summary>
public interface ICaptionStates
{
    /// <summary>Width of a token state.</summary>
    int Width { get; }
    /// <summary>The captions of these pairs padded to the longest: states [B, Length, Width] (zeros at padding), mask [B, Length].</summary>
    (float[] States, bool[] Mask, int Length) Gather(ReadOnlySpan<int> indices);
}

/// <summary>
/// Images with the (possibly noisy) labels and coherence a trainer sees offline, and for text models their
/// captions' token states (<see cref="Captions"/>). Pixels are 8-bit, row-major, channel-first per image;
/// they become [-1, 1] floats only per batch (the model project's PairSetTensors). Plain arrays: data sets
/// make them (Data's FashionPairs), the trainer reads them.
/// </summary>
public sealed class PairSet
{
    public byte[] Pixels { get; }
    public int Count { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int[] Labels { get; }
    public float[] Coherence { get; }
    public int ImageBytes => Channels * Height * Width;
    /// <summary>The captions' token states, pair by pair (text models); null for class models.</summary>
    public ICaptionStates? Captions { get; init; }

    public PairSet(byte[] pixels, int count, int channels, int height, int width, int[] labels, float[] coherence)
    {
        if (pixels.Length != (long)count * channels * height * width) throw new ArgumentException("pixel buffer does not match count x channels x height x width");
        if (labels.Length != count || coherence.Length != count) throw new ArgumentException("labels and coherence need one entry per image");
        (Pixels, Count, Channels, Height, Width, Labels, Coherence) = (pixels, count, channels, height, width, labels, coherence);
    }

    /// <summary>The same pairs with captions (a text model's training set).</summary>
    public PairSet WithCaptions(ICaptionStates captions) => new(Pixels, Count, Channels, Height, Width, Labels, Coherence) { Captions = captions };
}
