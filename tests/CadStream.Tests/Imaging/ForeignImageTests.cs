using CadStream.Imaging;
using SkiaSharp;
using static CadStream.Tests.Imaging.ForeignEncoders;

namespace CadStream.Tests.Imaging;

/// <summary>Images from other encoders than Skia decode to the picture they hold, the right way up.</summary>
public sealed class ForeignImageTests : IClassFixture<ForeignEncoders>
{
    const int Side = 16;
    static readonly ImageLimits Limits = new(4096, 1 << 20);
    readonly ForeignEncoders encoders;

    public ForeignImageTests(ForeignEncoders encoders) => this.encoders = encoders;

    /// <summary>Decoded to 3 x 16 x 16 by stretching, so the whole picture is seen.</summary>
    static byte[] Decode(byte[] file)
    {
        var pixels = ImageConversion.FromEncoded(file, "image", (3, Side, Side), Limits, out var reason, ResizePolicy.Stretch);
        Assert.True(pixels is not null, reason);
        return pixels!;
    }

    static void AssertColour(byte[] chw, int x, int y, (int R, int G, int B) expected, string what)
    {
        const int plane = Side * Side, tolerance = 48;
        var got = (chw[y * Side + x], chw[plane + y * Side + x], chw[2 * plane + y * Side + x]);
        Assert.True(Math.Abs(got.Item1 - expected.R) <= tolerance && Math.Abs(got.Item2 - expected.G) <= tolerance && Math.Abs(got.Item3 - expected.B) <= tolerance,
            $"{what}: pixel ({x}, {y}) is {got}, expected about {expected}");
    }

    /// <summary>Red on the left, blue on the right, all the way down.</summary>
    static void AssertHalves(byte[] file, string what)
    {
        var p = Decode(file);
        foreach (var y in new[] { 1, Side / 2, Side - 2 })
        {
            AssertColour(p, 2, y, Red, what);
            AssertColour(p, Side - 3, y, Blue, what);
        }
    }

    /// <summary>The SOF marker's frame type (0xC0 baseline, 0xC2 progressive) and its number of components.</summary>
    static (int Marker, int Components) JpegFrame(byte[] jpeg)
    {
        for (int i = 2; i + 9 < jpeg.Length; i++)
            if (jpeg[i] == 0xFF && jpeg[i + 1] is >= 0xC0 and <= 0xC3) return (jpeg[i + 1], jpeg[i + 9]);
        throw new Xunit.Sdk.XunitException("no SOF marker in the JPEG");
    }

    static SKEncodedImageFormat Format(byte[] file)
    {
        using var codec = SKCodec.Create(SKData.CreateCopy(file));
        return codec.EncodedFormat;
    }

    [Fact]
    public void A_baseline_and_a_progressive_jpeg_from_cjpeg_decode_to_the_picture()
    {
        var baseline = encoders.Cjpeg(progressive: false);
        Assert.Equal((0xC0, 3), JpegFrame(baseline));
        AssertHalves(baseline, "cjpeg baseline");
        var progressive = encoders.Cjpeg(progressive: true);
        Assert.Equal((0xC2, 3), JpegFrame(progressive));
        AssertHalves(progressive, "cjpeg -progressive");
    }

    [Fact]
    public void A_cmyk_jpeg_decodes_to_its_colours()
    {
        var cmyk = encoders.Pillow("cmyk");
        Assert.Equal(4, JpegFrame(cmyk).Components);
        AssertHalves(cmyk, "CMYK JPEG (Pillow)");
    }

    [Fact]
    public void A_webp_from_cwebp_decodes_to_the_picture()
    {
        var webp = encoders.Cwebp();
        Assert.Equal(SKEncodedImageFormat.Webp, Format(webp));
        AssertHalves(webp, "cwebp");
    }

    [Fact]
    public void A_gif_gives_its_first_frame_and_a_bmp_decodes()
    {
        var gif = encoders.Pillow("gif");
        Assert.Equal(SKEncodedImageFormat.Gif, Format(gif));
        using (var codec = SKCodec.Create(SKData.CreateCopy(gif))) Assert.Equal(2, codec.FrameCount);
        AssertHalves(gif, "GIF (Pillow), first frame");
        var bmp = encoders.Pillow("bmp");
        Assert.Equal(SKEncodedImageFormat.Bmp, Format(bmp));
        AssertHalves(bmp, "BMP (Pillow)");
    }

    [Fact]
    public void An_exif_orientation_set_by_exiftool_is_applied()
    {
        // 6: the stored rows are shown turned 90 degrees clockwise, so the stored left half (red) is shown on top.
        var turned = encoders.ExifRotatedJpeg(6);
        using (var codec = SKCodec.Create(SKData.CreateCopy(turned))) Assert.Equal(SKEncodedOrigin.RightTop, codec.EncodedOrigin);
        var p = Decode(turned);
        foreach (var x in new[] { 1, Side / 2, Side - 2 })
        {
            AssertColour(p, x, 2, Red, "orientation 6, top");
            AssertColour(p, x, Side - 3, Blue, "orientation 6, bottom");
        }
        // 8: turned anticlockwise, red at the bottom.
        var back = Decode(encoders.ExifRotatedJpeg(8));
        AssertColour(back, Side / 2, 2, Blue, "orientation 8, top");
        AssertColour(back, Side / 2, Side - 3, Red, "orientation 8, bottom");
        // 3: turned half round, blue on the left.
        var half = Decode(encoders.ExifRotatedJpeg(3));
        AssertColour(half, 2, Side / 2, Blue, "orientation 3, left");
        AssertColour(half, Side - 3, Side / 2, Red, "orientation 3, right");
    }

    [Fact]
    public void The_shown_aspect_ratio_decides_the_crop_of_a_turned_photo()
    {
        // Shown as 32 x 64 (portrait): a centre crop keeps the middle rows, where red meets blue, and the
        // full width; the stored 64 x 32 would have kept the middle columns instead (red and blue side by side).
        var p = ImageConversion.FromEncoded(encoders.ExifRotatedJpeg(6), "image", (3, Side, Side), Limits, out var reason, ResizePolicy.CenterCrop);
        Assert.True(p is not null, reason);
        AssertColour(p!, 2, 1, Red, "crop top-left");
        AssertColour(p!, Side - 3, 1, Red, "crop top-right");
        AssertColour(p!, 2, Side - 2, Blue, "crop bottom-left");
    }
}
