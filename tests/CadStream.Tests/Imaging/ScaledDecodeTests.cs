using CadStream.Imaging;
using SkiaSharp;

namespace CadStream.Tests.Imaging;

/// <summary>A large JPEG for a small model is decoded at a fraction of its size: the result must match the full decode's.</summary>
public sealed class ScaledDecodeTests
{
    static readonly ImageLimits Limits = new(4096, 1 << 22);

    static byte[] Jpeg(int side, Action<SKCanvas> draw)
    {
        using var bitmap = new SKBitmap(side, side);
        using (var canvas = new SKCanvas(bitmap)) draw(canvas);
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 95);
        return data.ToArray();
    }

    static byte[] Scene(int side) => Jpeg(side, canvas =>
    {
        using var shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(side, side), [SKColors.SkyBlue, SKColors.DarkGreen], SKShaderTileMode.Clamp);
        using var sky = new SKPaint { Shader = shader };
        canvas.DrawRect(0, 0, side, side, sky);
        using var sun = new SKPaint { Color = SKColors.Orange, IsAntialias = true };
        canvas.DrawCircle(side * 0.3f, side * 0.3f, side * 0.15f, sun);
        using var house = new SKPaint { Color = SKColors.Firebrick };
        canvas.DrawRect(side * 0.55f, side * 0.5f, side * 0.3f, side * 0.3f, house);
    });

    [Theory]
    [InlineData(256, 32)]
    [InlineData(200, 32)]
    [InlineData(256, 64)]
    public void A_scaled_decode_matches_the_full_decode_then_resize(int side, int size)
    {
        var jpeg = Scene(side);
        using var full = SKBitmap.Decode(jpeg).Copy(SKColorType.Rgba8888);
        var reference = ImageConversion.FromRaw(full.Bytes, side, side, 4, (3, size, size), Limits, out var why)!;
        Assert.True(reference is not null, why);
        var scaled = ImageConversion.FromEncoded(jpeg, "image", (3, size, size), Limits, out var reason)!;
        Assert.True(scaled is not null, reason);
        double meanError = reference.Zip(scaled, (a, b) => Math.Abs(a - b)).Average();
        Assert.True(meanError < 3, $"mean difference {meanError:F2} of 255 between the scaled and the full decode");
    }

    [Fact]
    public void One_pixel_stripes_shrink_to_an_even_grey_not_a_moire()
    {
        var jpeg = Jpeg(256, canvas =>
        {
            canvas.Clear(SKColors.Black);
            using var white = new SKPaint { Color = SKColors.White };
            for (int x = 0; x < 256; x += 2) canvas.DrawRect(x, 0, 1, 256, white);
        });
        var grey = ImageConversion.FromEncoded(jpeg, "image", (1, 32, 32), Limits, out var reason)!;
        Assert.True(grey is not null, reason);
        Assert.All(grey, v => Assert.InRange(v, 108, 148));
    }
}
