using CadStream.Data;
using CadStream.Data.Examples;
using CadStream.Evaluation.Metrics;
using CadStream.Tests.Data;

namespace CadStream.Tests.Evaluation.Metrics;

public sealed class TintedPromptJudgeTests
{
    const int Side = FashionMnist.Side, Plane = Side * Side;

    /// <summary>Test image <paramref name="index"/> tinted as the generator tints (grey level times the colour), channel-first.</summary>
    static byte[] Tinted(int index, int colour)
    {
        var (r, g, b) = GarmentColours.All[colour].Rgb;
        var chw = new byte[3 * Plane];
        for (int i = 0; i < Plane; i++)
        {
            int v = RealData.Test.Pixels[index * Plane + i];
            (chw[i], chw[Plane + i], chw[2 * Plane + i]) = ((byte)(r * v / 255), (byte)(g * v / 255), (byte)(b * v / 255));
        }
        return chw;
    }

    [Fact]
    public void The_grey_version_of_a_tinted_garment_is_the_garment()
    {
        for (int colour = 0; colour < GarmentColours.All.Count; colour++)
        {
            var grey = TintedPromptJudge.GreyVersion(Tinted(colour, colour), Side, Side);
            var original = RealData.Test.Pixels.AsSpan(colour * Plane, Plane);
            for (int i = 0; i < Plane; i++) Assert.InRange(grey[i] - original[i], -1, 1);
        }
    }

    [Fact]
    public void Colour_and_garment_are_scored_apart()
    {
        // Four garments of four classes, each tinted; the prompts get the colour, the garment, both or neither right.
        var picks = Enumerable.Range(0, 200).Where(i => RealData.Test.Labels[i] is 0 or 1 or 7 or 8).GroupBy(i => RealData.Test.Labels[i]).Select(g => g.First()).Take(4).ToArray();
        int[] tints = [0, 3, 5, 7];
        var images = picks.SelectMany((p, j) => Tinted(p, tints[j])).ToArray();
        var truth = picks.Select(p => (int)RealData.Test.Labels[p]).ToArray();
        int[] askedColour = [tints[0], (tints[1] + 1) % 8, tints[2], (tints[3] + 2) % 8];
        int[] askedGarment = [truth[0], truth[1], (truth[2] + 1) % 10, (truth[3] + 3) % 10];
        // An oracle classifier: the label of the original garment the grey image came from (nearest in L1).
        int[] Oracle(IReadOnlyList<byte[]> greys) => greys.Select(grey => truth[Enumerable.Range(0, picks.Length)
            .MinBy(j => Enumerable.Range(0, Plane).Sum(i => Math.Abs(grey[i] - RealData.Test.Pixels[picks[j] * Plane + i])))]).ToArray();

        var scores = TintedPromptJudge.Score(images, Side, Side, askedColour, askedGarment, Oracle);

        Assert.Equal(4, scores.Count);
        Assert.Equal(0.5, scores.Colour);
        Assert.Equal(0.5, scores.Garment);
        Assert.Equal(0.25, scores.Both);
        Assert.Equal(0, scores.Uncoloured);
        Assert.Equal(1.0, scores.ColourPerTint[tints[0]]);
        Assert.True(double.IsNaN(scores.ColourPerTint[2]), "a tint never asked for has no accuracy");
    }

    [Fact]
    public void Counts_that_do_not_match_are_refused() =>
        Assert.Throws<ArgumentException>(() => TintedPromptJudge.Score(new byte[3 * Plane], Side, Side, [0, 1], [0], _ => [0, 0]));
}
