using TorchSharp;
using static TorchSharp.torch;

namespace CadStream.Model.Training;

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
/// Images with the (possibly noisy) labels and coherence a trainer sees, and for text models their
/// captions' token states (<see cref="Captions"/>). Pixels are 8-bit, row-major, channel-first per image;
/// they become [-1, 1] floats only per batch.
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

    /// <summary>The images at the given indices as a (B, C, H, W) float tensor in [-1, 1].</summary>
    public Tensor Images(ReadOnlySpan<int> indices, Device? device = null)
    {
        var buffer = new byte[indices.Length * ImageBytes];
        for (int i = 0; i < indices.Length; i++)
            Buffer.BlockCopy(Pixels, indices[i] * ImageBytes, buffer, i * ImageBytes, ImageBytes);
        return ImageTensors.FromBytes(buffer, indices.Length, Channels, Height, Width, device);
    }

    public TrainBatch Batch(ReadOnlySpan<int> indices, Device device)
    {
        var labels = new long[indices.Length];
        var coh = new float[indices.Length];
        for (int i = 0; i < indices.Length; i++) { labels[i] = Labels[indices[i]]; coh[i] = Coherence[indices[i]]; }
        if (Captions is null) return new TrainBatch(Images(indices, device), labels, coh);
        var (states, mask, length) = Captions.Gather(indices);
        return new TrainBatch(Images(indices, device), labels, coh,
            tensor(states, [indices.Length, length, Captions.Width]).to(device), tensor(mask, [indices.Length, length]).to(device));
    }
}

/// <summary>Shuffled mini-batch indices, epoch after epoch, from a seed.</summary>
public sealed class BatchSampler(int count, int batchSize, int seed)
{
    private readonly Random random = new(seed);
    private int[] order = [];
    private int position;

    public int[] Next()
    {
        var batch = new int[Math.Min(batchSize, count)];
        for (int i = 0; i < batch.Length; i++)
        {
            if (position >= order.Length)
            {
                order = Enumerable.Range(0, count).ToArray();
                random.Shuffle(order);
                position = 0;
            }
            batch[i] = order[position++];
        }
        return batch;
    }
}
