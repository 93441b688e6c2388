using System.Diagnostics;
using CadStream.Data.Captions;
using CadStream.Imaging;
using CadStream.Records;

namespace CadStream.Data;

/// <summary>
/// Label-noised Fashion-MNIST pairs for cad.pairs: a seeded selection of training images,
/// labels noised by one of the CAD protocols (the same <see cref="LabelNoise"/> code the offline
/// trainer uses) and each image as a grey PNG. With a <see cref="CaptionGenerator"/> each pair also
/// carries a caption of its image (docs/captions.md; from the true label, noised by the generator's
/// own protocol) and no coherence: the label-noise coherence says how far the label is to be trusted,
/// not the caption, so the scorers give each condition kind its own. Deterministic for (seed, size, noise).
/// </summary>
public sealed class FashionPairStream
{
    private readonly FashionMnist data;
    private readonly int[] indices;
    private readonly NoisyLabels noisy;
    private readonly int seed;
    private readonly string? model;
    private readonly CaptionGenerator? captions;

    /// <summary>Distinct images the stream cycles through.</summary>
    public int Size => indices.Length;
    public double WrongFraction => noisy.WrongFraction;
    public double MeanCoherence => noisy.Coherence.Length == 0 ? 0 : noisy.Coherence.Average();

    private FashionPairStream(FashionMnist data, int[] indices, NoisyLabels noisy, int seed, string? model, CaptionGenerator? captions)
    {
        this.captions = captions;
        this.data = data;
        this.indices = indices;
        this.noisy = noisy;
        this.seed = seed;
        this.model = model;
    }

    /// <param name="size">Distinct images to use (at most the data set); 0 = all.</param>
    /// <param name="classifierLogits">The clean classifier's logits, needed by <see cref="LabelNoiseKind.Temperature"/>.</param>
    /// <param name="model">Model id written into each pair; null = every model of the pair's condition kinds.</param>
    /// <param name="captions">Writes a caption into each pair (and leaves the coherence out); null = labels only.</param>
    public static FashionPairStream Create(FashionMnist data, LabelNoiseKind noise, double beta, Func<FashionMnist, float[]>? classifierLogits, int seed, int size = 0, string? model = null,
        CaptionGenerator? captions = null)
    {
        int n = size <= 0 ? data.Count : Math.Min(size, data.Count);
        var order = Enumerable.Range(0, data.Count).ToArray();
        new Random(seed).Shuffle(order);
        var chosen = order[..n];
        const int size1 = FashionMnist.ImageBytes;
        var pixels = new byte[n * size1];
        for (int k = 0; k < n; k++) data.Pixels.AsSpan(chosen[k] * size1, size1).CopyTo(pixels.AsSpan(k * size1));
        var noisy = LabelNoise.Apply(noise, new FashionMnist(pixels, chosen.Select(i => data.Labels[i]).ToArray()), beta, classifierLogits, seed);
        return new FashionPairStream(data, chosen, noisy, seed, model, captions);
    }

    /// <summary>The pairs: the selection in order, then again in a fresh seeded order per pass. <paramref name="count"/> 0 = endless.</summary>
    public IEnumerable<PairRecord> Pairs(long count)
    {
        var order = Enumerable.Range(0, indices.Length).ToArray();
        long produced = 0;
        for (int pass = 0; indices.Length > 0; pass++)
        {
            if (pass > 0) new Random(unchecked(seed * 1_000_003 + pass)).Shuffle(order); // HashCode is randomised per process
            foreach (var k in order)
            {
                if (count > 0 && produced >= count) yield break;
                int index = indices[k];
                var pixels = data.Pixels.AsSpan(index * FashionMnist.ImageBytes, FashionMnist.ImageBytes);
                yield return new PairRecord
                {
                    Id = pass == 0 ? $"fashion-mnist/train/{index}" : $"fashion-mnist/train/{index}/pass{pass}",
                    Model = model,
                    Image = Png.Encode(pixels, FashionMnist.Side, FashionMnist.Side),
                    Label = noisy.Labels[k],
                    Coherence = captions is null ? Math.Round(noisy.Coherence[k], 6) : null,
                    // Each pass says the image anew (another wording, maybe another noise draw): the index of the draw is the pair's.
                    Caption = captions?.Generate(pixels, data.Labels[index], index + (long)pass * data.Count).Text,
                };
                produced++;
            }
        }
    }
}
