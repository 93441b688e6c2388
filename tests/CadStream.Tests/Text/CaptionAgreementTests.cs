using CadStream.Data.Captions;
using CadStream.Scoring;
using Xunit.Abstractions;

namespace CadStream.Tests.Text;

public sealed class CaptionAgreementMathTests
{
    // Two classes described by the unit axes of a plane.
    static readonly float[] Axes = [1, 0, 0, 1];

    [Fact]
    public void Agreement_IsTheProbabilityWeightedCosine()
    {
        float s = MathF.Sqrt(0.5f);
        // A caption halfway between: cosine 1/sqrt2 with both, whatever p.
        Assert.Equal(Math.Sqrt(0.5), CaptionAgreement.Agreement([0.25f, 0.75f], [s, s], Axes, 2), 1e-6);
        // A caption on the first axis: 0.3 * 1 + 0.7 * 0.
        Assert.Equal(0.3, CaptionAgreement.Agreement([0.3f, 0.7f], [1, 0], Axes, 2), 1e-6);
        // Cosines, not dot products: the caption's length does not matter; opposite direction gives -1.
        Assert.Equal(0.3, CaptionAgreement.Agreement([0.3f, 0.7f], [5, 0], Axes, 2), 1e-6);
        Assert.Equal(-1, CaptionAgreement.Agreement([1, 0], [-2, 0], Axes, 2), 1e-6);
        // (0.6, 0.8) against the axes: 0.5 * 0.6 + 0.5 * 0.8.
        Assert.Equal(0.7, CaptionAgreement.Agreement([0.5f, 0.5f], [0.6f, 0.8f], Axes, 2), 1e-6);
    }

    [Fact]
    public void Agreement_RefusesProbabilitiesThatAreNot()
    {
        Assert.Throws<ArgumentException>(() => CaptionAgreement.Agreement([0.5f, 0.6f], [1, 0], Axes, 2));
        Assert.Throws<ArgumentException>(() => CaptionAgreement.Agreement([1.5f, -0.5f], [1, 0], Axes, 2));
        Assert.Throws<ArgumentException>(() => CaptionAgreement.Agreement([float.NaN, 1], [1, 0], Axes, 2));
        Assert.Throws<ArgumentException>(() => CaptionAgreement.Agreement([1f], [1, 0], Axes, 2));
        Assert.Throws<ArgumentException>(() => CaptionAgreement.Agreement([0.5f, 0.5f], [1, 0, 0], Axes, 2));
    }
}

[Collection(MiniLmFixture.Name)]
public sealed class CaptionAgreementTests(MiniLmFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public void ACaption_AgreesMostWithTheClassTheClassifierSees()
    {
        var agreement = new CaptionAgreement(fixture.Encoder, ClassDescriptions.FashionMnist);
        Assert.Equal(10, agreement.Classes);
        string[] captions = ["IMG_2041.jpg dark ankle boots free shipping", "a pale tee for women", "free shipping ✨ #ootd"];
        // Each caption scored against a one-hot classifier output for every class.
        var probabilities = new float[captions.Length * 10 * 10];
        var repeated = new List<string>();
        for (int c = 0; c < captions.Length; c++)
            for (int k = 0; k < 10; k++)
            {
                probabilities[(c * 10 + k) * 10 + k] = 1;
                repeated.Add(captions[c]);
            }
        var scores = agreement.Score(repeated, probabilities);
        double[] Row(int c) => scores.AsSpan(c * 10, 10).ToArray();
        output.WriteLine(string.Join("\n", captions.Select((c, i) => $"{c}: {string.Join(" ", Row(i).Select(s => s.ToString("F2")))}")));
        Assert.Equal(9, Array.IndexOf(Row(0), Row(0).Max()));  // ankle boots
        Assert.Equal(0, Array.IndexOf(Row(1), Row(1).Max()));  // T-shirt/top
        Assert.True(Row(0)[9] > Row(0)[0] + 0.2, "boots caption barely prefers the boot class");
        // Clutter alone agrees with no class much.
        Assert.True(Row(2).Max() < Row(0)[9] - 0.2, "clutter agrees as much as a matching caption");

        // A soft classifier output: the weighted mean of the one-hot scores (linearity in p).
        float[] soft = [0.1f, 0, 0, 0, 0, 0.2f, 0, 0, 0, 0.7f];
        double expected = 0.1 * Row(0)[0] + 0.2 * Row(0)[5] + 0.7 * Row(0)[9];
        Assert.Equal(expected, agreement.Score([captions[0]], soft)[0], 1e-4);
        Assert.Throws<ArgumentException>(() => agreement.Score([captions[0]], new float[9]));
        Assert.Throws<ArgumentException>(() => new CaptionAgreement(fixture.Encoder, ["a bag", " "]));
    }
}
