using TorchSharp;
using static TorchSharp.torch;

namespace CadStream.Model.Training;

/// <summary>
/// Images with the (possibly noisy) labels and coherence a trainer sees. Pixels are 8-bit,
/// row-major, channel-first per image; they become [-1, 1] floats only per batch.
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

    public PairSet(byte[] pixels, int count, int channels, int height, int width, int[] labels, float[] coherence)
    {
        if (pixels.Length != (long)count * channels * height * width) throw new ArgumentException("pixel buffer does not match count x channels x height x width");
        if (labels.Length != count || coherence.Length != count) throw new ArgumentException("labels and coherence need one entry per image");
        (Pixels, Count, Channels, Height, Width, Labels, Coherence) = (pixels, count, channels, height, width, labels, coherence);
    }

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
        return new TrainBatch(Images(indices, device), labels, coh);
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
