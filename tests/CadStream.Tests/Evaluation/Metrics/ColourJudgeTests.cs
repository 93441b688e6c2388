using CadStream.Data.Examples;
using CadStream.Evaluation.Metrics;
using CadStream.Imaging;
using CadStream.Tests.Data;

namespace CadStream.Tests.Evaluation.Metrics;

public sealed class ColourJudgeTests
{
    const int Side = 16;

    /// <summary>A square of <paramref name="rgb"/> on black, channel-first, covering <paramref name="share"/> of the image's side.</summary>
    static byte[] Square((byte R, byte G, byte B) rgb, double share = 0.5)
    {
        int plane = Side * Side, from = (int)(Side * (1 - share) / 2), to = Side - from;
        var chw = new byte[3 * plane];
        for (int y = from; y < to; y++)
            for (int x = from; x < to; x++)
            {
                chw[y * Side + x] = rgb.R;
                chw[plane + y * Side + x] = rgb.G;
                chw[2 * plane + y * Side + x] = rgb.B;
            }
        return chw;
    }

    [Fact]
    public void Each_pure_tint_is_named_as_itself()
    {
        for (int k = 0; k < GarmentColours.All.Count; k++)
            Assert.Equal(k, ColourJudge.Judge(Square(GarmentColours.All[k].Rgb), Side, Side));
    }

    [Fact]
    public void A_dim_or_washed_out_tint_keeps_its_name()
    {
        for (int k = 0; k < GarmentColours.All.Count; k++)
        {
            Assert.Equal(k, ColourJudge.Judge(Square(Hsv.ToRgb(GarmentColours.All[k].Hue, 1, 0.35)), Side, Side));
            Assert.Equal(k, ColourJudge.Judge(Square(Hsv.ToRgb(GarmentColours.All[k].Hue, 0.4, 0.9)), Side, Side));
        }
    }

    [Theory]
    [InlineData(14, "red")]
    [InlineData(16, "orange")]
    [InlineData(350, "red")]
    [InlineData(200, "cyan")]
    [InlineData(205, "blue")]
    [InlineData(300, "pink")]
    public void A_hue_between_two_tints_goes_to_the_nearer_one_around_the_circle(double hue, string expected) =>
        Assert.Equal(expected, GarmentColours.All[ColourJudge.Judge(Square(Hsv.ToRgb(hue, 1, 1)), Side, Side)].Name);

    [Fact]
    public void Black_grey_and_white_images_have_no_colour()
    {
        Assert.Equal(-1, ColourJudge.Judge(new byte[3 * Side * Side], Side, Side));
        Assert.Equal(-1, ColourJudge.Judge(Square((128, 128, 128), 1), Side, Side));
        Assert.Equal(-1, ColourJudge.Judge(Square((250, 240, 245), 1), Side, Side));
    }

    [Fact]
    public void Grey_pixels_do_not_outvote_a_small_coloured_garment()
    {
        var image = Square((200, 200, 200), 1);
        var blue = Square(GarmentColours.All[5].Rgb, 0.25);
        int plane = Side * Side;
        for (int i = 0; i < plane; i++)
            if (blue[i] != 0 || blue[plane + i] != 0 || blue[2 * plane + i] != 0)
                (image[i], image[plane + i], image[2 * plane + i]) = (blue[i], blue[plane + i], blue[2 * plane + i]);
        Assert.Equal(5, ColourJudge.Judge(image, Side, Side));
    }

    [Fact]
    public void A_tinted_garment_keeps_its_colour_through_jpeg_and_the_ingress_downscale()
    {
        var writer = new TintedGarmentWriter(RealData.Test, size: 64);
        for (int k = 0; k < GarmentColours.All.Count; k++)
            for (int i = 0; i < 10; i++)
            {
                var jpeg = writer.Jpeg(RealData.Test.Pixels.AsSpan(i * 784, 784), GarmentColours.All[k]);
                var chw = ImageConversion.FromEncoded(jpeg, "image", (3, 32, 32), new ImageLimits(1024, 1 << 20), out var reason)!;
                Assert.True(chw is not null, reason);
                Assert.Equal(GarmentColours.All[k].Name, GarmentColours.All[ColourJudge.Judge(chw, 32, 32)].Name);
            }
    }

    [Fact]
    public void A_wrong_shape_is_refused() =>
        Assert.Throws<ArgumentException>(() => ColourJudge.Judge(new byte[10], Side, Side));
}
