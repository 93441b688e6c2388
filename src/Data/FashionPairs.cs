using CadStream.Catalog;

namespace CadStream.Data;

/// <summary>
/// The one place offline pairs are made of images, for the commands, the benches and the tests alike: a data
/// set with its (noisy) labels and coherence, or random images when only the shape matters.
/// </summary>
public static class FashionPairs
{
    /// <summary>
    /// Every image of the set as a pair: with <paramref name="labels"/> (a noisy protocol's; default the set's own)
    /// and <paramref name="coherence"/> (default 1).
    /// </summary>
    public static PairSet Pairs(this FashionMnist data, int[]? labels = null, float[]? coherence = null) =>
        new(data.Pixels, data.Count, 1, FashionMnist.Side, FashionMnist.Side,
            labels ?? data.Labels.Select(l => (int)l).ToArray(), coherence ?? Enumerable.Repeat(1f, data.Count).ToArray());

    /// <summary>Random pixels at a model's shape, labels in turn and random coherence: for timing steps, not learning.</summary>
    public static PairSet Random(int count, int channels, int side, int classes, int seed = 0)
    {
        var rng = new Random(seed);
        var pixels = new byte[count * channels * side * side];
        rng.NextBytes(pixels);
        return new PairSet(pixels, count, channels, side, side,
            Enumerable.Range(0, count).Select(i => i % classes).ToArray(),
            Enumerable.Range(0, count).Select(_ => (float)rng.NextDouble()).ToArray());
    }
}
