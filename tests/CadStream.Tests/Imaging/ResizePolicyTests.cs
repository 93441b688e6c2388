using CadStream.Imaging;

namespace CadStream.Tests.Imaging;

/// <summary>A model's Resize: how a picture of another aspect ratio reaches the square.</summary>
public sealed class ResizePolicyTests
{
    /// <summary>40 x 20: a white band on the left quarter, grey 100 in the middle half, black on the right quarter.</summary>
    static float[] Banded(out int width, out int height)
    {
        (width, height) = (40, 20);
        var p = new float[40 * 20];
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 40; x++)
                p[y * 40 + x] = x < 10 ? 255 : x < 30 ? 100 : 0;
        return p;
    }

    static float[] Transposed(float[] p, int width, int height)
    {
        var t = new float[p.Length];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                t[x * height + y] = p[y * width + x];
        return t;
    }

    [Fact]
    public void Center_crop_keeps_the_middle_of_the_longer_side()
    {
        var p = Banded(out int w, out int h);
        var wide = Resampler.Fit(p, w, h, 10, 10, ResizePolicy.CenterCrop);
        Assert.All(wide, v => Assert.InRange(v, 99, 101));
        // Portrait: the top and bottom are cut the same way.
        var tall = Resampler.Fit(Transposed(p, w, h), h, w, 10, 10, ResizePolicy.CenterCrop);
        Assert.All(tall, v => Assert.InRange(v, 99, 101));
    }

    [Fact]
    public void Pad_keeps_the_whole_picture_between_black_bands()
    {
        var p = Banded(out int w, out int h);
        var r = Resampler.Fit(p, w, h, 20, 20, ResizePolicy.Pad);
        for (int x = 0; x < 20; x++)
        {
            // 40 x 20 scaled to 20 x 10, rows 5..14; rows 0..4 and 15..19 are the letterbox.
            for (int y = 0; y < 5; y++) Assert.Equal(0, r[y * 20 + x]);
            for (int y = 15; y < 20; y++) Assert.Equal(0, r[y * 20 + x]);
        }
        for (int y = 5; y < 15; y++)
        {
            Assert.InRange(r[y * 20 + 1], 240, 256);   // the white band is still there
            Assert.InRange(r[y * 20 + 10], 95, 105);
            Assert.InRange(r[y * 20 + 18], -1, 8);     // and the black one
        }
    }

    [Fact]
    public void Stretch_scales_each_side_on_its_own()
    {
        var p = Banded(out int w, out int h);
        var r = Resampler.Fit(p, w, h, 10, 10, ResizePolicy.Stretch);
        for (int y = 0; y < 10; y++)
        {
            Assert.InRange(r[y * 10 + 0], 240, 256);
            Assert.InRange(r[y * 10 + 5], 95, 105);
            Assert.InRange(r[y * 10 + 9], -1, 8);
        }
    }

    [Theory]
    [InlineData(ResizePolicy.CenterCrop)]
    [InlineData(ResizePolicy.Pad)]
    [InlineData(ResizePolicy.Stretch)]
    public void Shrinking_averages_detail_away_instead_of_aliasing(ResizePolicy policy)
    {
        // One-pixel stripes, 128 x 128 to 16 x 16: a point sampler would give all 0 or all 255.
        var stripes = new float[128 * 128];
        for (int i = 0; i < stripes.Length; i++) stripes[i] = (i % 128) % 2 == 0 ? 255 : 0;
        var r = Resampler.Fit(stripes, 128, 128, 16, 16, policy);
        Assert.All(r, v => Assert.InRange(v, 122, 133));
    }
}
