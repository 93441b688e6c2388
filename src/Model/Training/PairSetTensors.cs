using CadStream.Catalog;
using static TorchSharp.torch;

namespace CadStream.Model.Training;

/// <summary>A <see cref="PairSet"/>'s images and mini-batches as tensors.</summary>
public static class PairSetTensors
{
    /// <summary>The images at the given indices as a (B, C, H, W) float tensor in [-1, 1].</summary>
    public static Tensor Images(this PairSet pairs, ReadOnlySpan<int> indices, Device? device = null)
    {
        var buffer = new byte[indices.Length * pairs.ImageBytes];
        for (int i = 0; i < indices.Length; i++)
            Buffer.BlockCopy(pairs.Pixels, indices[i] * pairs.ImageBytes, buffer, i * pairs.ImageBytes, pairs.ImageBytes);
        return ImageTensors.FromBytes(buffer, indices.Length, pairs.Channels, pairs.Height, pairs.Width, device);
    }

    /// <summary>The pairs at the given indices as a training batch on <paramref name="device"/> (with their captions' token states, if any).</summary>
    public static TrainBatch Batch(this PairSet pairs, ReadOnlySpan<int> indices, Device device)
    {
        var labels = new long[indices.Length];
        var coh = new float[indices.Length];
        for (int i = 0; i < indices.Length; i++) { labels[i] = pairs.Labels[indices[i]]; coh[i] = pairs.Coherence[indices[i]]; }
        if (pairs.Captions is null) return new TrainBatch(pairs.Images(indices, device), labels, coh);
        var (states, mask, length) = pairs.Captions.Gather(indices);
        return new TrainBatch(pairs.Images(indices, device), labels, coh,
            tensor(states, [indices.Length, length, pairs.Captions.Width]).to(device), tensor(mask, [indices.Length, length]).to(device));
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
