using CadStream.Data;
using CadStream.Data.Examples;
using CadStream.Imaging;

namespace CadStream.Evaluation.Metrics;

/// <summary>
/// The worked RGB example's prompt accuracy, colour and garment judged apart: <see cref="Colour"/> is the share of images
/// whose tint <see cref="ColourJudge"/> reads as the prompt's colour, <see cref="Garment"/> the share the Fashion-MNIST
/// classifier assigns to the prompt's garment, <see cref="Both"/> the share right on both.
/// </summary>
public sealed record TintedPromptScores(int Count, double Colour, double Garment, double Both, int Uncoloured, double[] ColourPerTint, double[] GarmentPerClass);

/// <summary>Scores images generated for "a {colour} {garment}" prompts (torch-free: the classifier comes in as a function).</summary>
public static class TintedPromptJudge
{
    /// <summary>
    /// The grey garment under a tint, at the classifier's 28 x 28: the largest channel. A tint multiplies a grey level by a
    /// colour whose largest channel is 255, so the largest channel is the grey level itself, where luminance would make a blue
    /// garment nearly black.
    /// </summary>
    public static byte[] GreyVersion(ReadOnlySpan<byte> chw, int height, int width)
    {
        int plane = height * width;
        var grey = new float[plane];
        for (int i = 0; i < plane; i++) grey[i] = Math.Max(chw[i], Math.Max(chw[plane + i], chw[2 * plane + i]));
        var resized = Resampler.Fit(grey, width, height, FashionMnist.Side, FashionMnist.Side, ResizePolicy.CenterCrop);
        var result = new byte[FashionMnist.ImageBytes];
        for (int i = 0; i < result.Length; i++) result[i] = (byte)Math.Clamp(MathF.Round(resized[i]), 0, 255);
        return result;
    }

    /// <param name="images">Count x 3 x height x width bytes, channel-first per image.</param>
    /// <param name="colours">The colour each image's prompt named (index into <see cref="GarmentColours.All"/>).</param>
    /// <param name="garments">The garment each image's prompt named (Fashion-MNIST class).</param>
    /// <param name="classify">The garment class of each 28 x 28 grey image (the evaluation's classifier).</param>
    public static TintedPromptScores Score(byte[] images, int height, int width, IReadOnlyList<int> colours, IReadOnlyList<int> garments,
        Func<IReadOnlyList<byte[]>, int[]> classify)
    {
        int n = colours.Count, size = 3 * height * width;
        if (garments.Count != n || images.Length != n * size)
            throw new ArgumentException($"{n} colours, {garments.Count} garments and {images.Length} bytes do not describe the same {n} images of 3x{height}x{width}");
        var greys = new byte[n][];
        var judged = new int[n];
        for (int i = 0; i < n; i++)
        {
            var chw = images.AsSpan(i * size, size);
            judged[i] = ColourJudge.Judge(chw, height, width);
            greys[i] = GreyVersion(chw, height, width);
        }
        var classes = classify(greys);
        int colourRight = 0, garmentRight = 0, both = 0;
        var perTint = new (int Asked, int Right)[GarmentColours.All.Count];
        var perClass = new (int Asked, int Right)[FashionMnist.NumClasses];
        for (int i = 0; i < n; i++)
        {
            bool c = judged[i] == colours[i], g = classes[i] == garments[i];
            colourRight += c ? 1 : 0;
            garmentRight += g ? 1 : 0;
            both += c && g ? 1 : 0;
            perTint[colours[i]] = (perTint[colours[i]].Asked + 1, perTint[colours[i]].Right + (c ? 1 : 0));
            perClass[garments[i]] = (perClass[garments[i]].Asked + 1, perClass[garments[i]].Right + (g ? 1 : 0));
        }
        static double Share(int right, int asked) => asked == 0 ? double.NaN : (double)right / asked;
        return new TintedPromptScores(n, Share(colourRight, n), Share(garmentRight, n), Share(both, n), judged.Count(j => j < 0),
            perTint.Select(t => Share(t.Right, t.Asked)).ToArray(), perClass.Select(t => Share(t.Right, t.Asked)).ToArray());
    }
}
