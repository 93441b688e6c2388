using CadStream.Actors.Training.Conditions;
using CadStream.Catalog;
using CadStream.Model;
using CadStream.Model.Training;
using static TorchSharp.torch;

namespace CadStream.Actors.Training;

/// <summary>A pair in a trainer's replay buffer: the batch it came in and what its kind prepared for it (null when nothing).</summary>
internal sealed record TrainingItem(ScoredPair Pair, long BatchId, PreparedCondition? Prepared);

/// <summary>
/// Builds a training batch from buffered pairs at the model's shape, on the worker's device, conditioned by the
/// model's kind. Called on the worker's thread only.
/// </summary>
internal sealed class TrainingBatches(ModelSpec spec, ITrainingCondition condition, Device device)
{
    /// <summary>The batch of <paramref name="items"/>, in order; the caller disposes it.</summary>
    public TrainBatch Build(IReadOnlyList<TrainingItem> items)
    {
        // One copy: the pairs' pixels into a contiguous buffer, straight into the batch tensor.
        int size = spec.ImageBytes;
        var pixels = new byte[items.Count * size];
        for (int i = 0; i < items.Count; i++) Buffer.BlockCopy(items[i].Pair.Pixels, 0, pixels, i * size, size);
        var images = ImageTensors.FromBytes(pixels, items.Count, spec.Channels, spec.ImageSize, spec.ImageSize, device);
        var coherence = items.Select(x => x.Pair.Coherence).ToArray();
        return condition.Batch(images, coherence, items.Select(x => x.Pair).ToList(), items.Select(x => x.Prepared).ToList(), device);
    }
}
