using SkiaSharp;

namespace CadStream.Imaging;

/// <summary>How large an incoming image may be: each side, and width x height.</summary>
public readonly record struct ImageLimits(int MaxSide, long MaxPixels)
{
    /// <summary>Null when a declared size is within the limits, else the reason it is not.</summary>
    public string? Check(long width, long height)
    {
        if (width > MaxSide || height > MaxSide) return $"image {width}x{height} exceeds {MaxSide}x{MaxSide}";
        if (width * height > MaxPixels) return $"image {width}x{height} declares {width * height} pixels, more than the {MaxPixels} allowed (Ingress:MaxPixels)";
        return null;
    }
}

/// <summary>How an image whose aspect ratio differs from the model's square gets there (a model's <c>Resize</c>).</summary>
public enum ResizePolicy
{
    /// <summary>Keep the centre: cut the longer side to the target's ratio, then scale (img2dataset's default).</summary>
    CenterCrop,
    /// <summary>Letterbox: scale the whole image to fit inside, the bands left black.</summary>
    Pad,
    /// <summary>Scale each side on its own, the aspect ratio not kept.</summary>
    Stretch,
}

/// <summary>
/// Turns an incoming image (encoded, or raw interleaved 8-bit pixels) into a model's shape:
/// channel-first bytes of Channels x Height x Width. EXIF orientation is applied, alpha is composited
/// over black (the background of Fashion-MNIST), colour becomes grey by Rec. 601 luminance, grey becomes
/// colour by repetition, and the size changes by a <see cref="ResizePolicy"/> with <see cref="Resampler"/>
/// (antialiased when shrinking).
/// </summary>
public static class ImageConversion
{
    /// <summary>
    /// Decodes an encoded image (PNG, JPEG, WebP, GIF's first frame, BMP: any format Skia reads) and converts
    /// it. The size the image declares is checked against <paramref name="limits"/> before anything is decoded
    /// or allocated: first from the PNG header itself, then from the codec's header info (which decodes no pixels).
    /// </summary>
    /// <returns>The pixels, or null with <paramref name="reason"/> saying why not.</returns>
    public static byte[]? FromEncoded(byte[] encoded, string field, (int Channels, int Height, int Width) target, ImageLimits limits, out string? reason,
        ResizePolicy resize = ResizePolicy.CenterCrop)
    {
        if (Png.ReadSize(encoded) is { } declared && limits.Check(declared.Width, declared.Height) is { } tooLarge)
        {
            reason = tooLarge;
            return null;
        }
        using var data = SKData.CreateCopy(encoded);
        using var codec = data is null ? null : SKCodec.Create(data);
        if (codec is null)
        {
            reason = $"{field} is not a decodable image";
            return null;
        }
        int w = codec.Info.Width, h = codec.Info.Height;
        if (w < 1 || h < 1)
        {
            reason = $"{field} is not a decodable image";
            return null;
        }
        if (limits.Check(w, h) is { } overLimit)
        {
            reason = overLimit;
            return null;
        }
        // JPEG (libjpeg's DCT scaling) and WebP decode straight to a fraction of their size: a 256 px JPEG for a 32 px
        // model is decoded at 1/8, each pixel the mean of an 8 x 8 block, which is an antialiased shrink in itself.
        (w, h) = DecodeSize(codec, w, h, codec.EncodedOrigin, target);
        // Premultiplied RGBA: colour times alpha is the pixel composited over black.
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Premul);
        var rgba = new byte[w * h * 4];
        SKCodecResult result;
        unsafe
        {
            fixed (byte* p = rgba) result = codec.GetPixels(info, (IntPtr)p);
        }
        if (result != SKCodecResult.Success)
        {
            reason = $"{field} is truncated or corrupt ({result})";
            return null;
        }
        reason = null;
        // A camera stores the sensor's rows and says in EXIF how to turn them; people see the turned picture.
        var (upright, uw, uh) = Orientation.Apply(rgba, w, h, 4, codec.EncodedOrigin);
        return Convert(upright, uw, uh, 4, premultiplied: true, target, resize);
    }

    /// <summary>
    /// The smallest size the codec decodes to directly (JPEG's eighths, WebP's any) that still leaves each side at least
    /// <see cref="MinOversample"/> times the target's, so the antialiased resize that follows only shrinks; the full size
    /// when no smaller one qualifies (PNG, GIF and BMP decode at full size only).
    /// </summary>
    static (int Width, int Height) DecodeSize(SKCodec codec, int w, int h, SKEncodedOrigin origin, (int Channels, int Height, int Width) target)
    {
        bool swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        // The target in the codec's own axes (EXIF turns the picture after decoding).
        int needW = MinOversample * (swap ? target.Height : target.Width), needH = MinOversample * (swap ? target.Width : target.Height);
        var best = (w, h);
        for (int eighths = 7; eighths >= 1; eighths--)
        {
            var scaled = codec.GetScaledDimensions(eighths / 8f);
            if (scaled.Width < needW || scaled.Height < needH) break;
            if (scaled.Width < best.w || scaled.Height < best.h) best = (scaled.Width, scaled.Height);
        }
        return best;
    }

    /// <summary>How many times the target's side a scaled decode keeps at least (1: the codec's own averaging does all the shrinking it can).</summary>
    public const int MinOversample = 1;

    /// <summary>Converts raw row-major interleaved pixels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA channels).</summary>
    public static byte[]? FromRaw(byte[] raw, int width, int height, int channels, (int Channels, int Height, int Width) target, ImageLimits limits, out string? reason,
        ResizePolicy resize = ResizePolicy.CenterCrop)
    {
        if (width < 1 || height < 1)
        {
            reason = $"image_u8 needs positive width and height (got {width}x{height})";
            return null;
        }
        if (channels is < 1 or > 4)
        {
            reason = $"image_u8 channels must be 1, 2, 3 or 4 (got {channels})";
            return null;
        }
        if (limits.Check(width, height) is { } overLimit)
        {
            reason = overLimit;
            return null;
        }
        long expected = (long)width * height * channels;
        if (raw.LongLength != expected)
        {
            reason = $"image_u8 has {raw.LongLength} bytes but {width}x{height}x{channels} needs {expected}";
            return null;
        }
        reason = null;
        return Convert(raw, width, height, channels, premultiplied: false, target, resize);
    }

    static byte[] Convert(byte[] src, int w, int h, int c, bool premultiplied, (int Channels, int Height, int Width) target, ResizePolicy resize)
    {
        if (target.Channels is not (1 or 3))
            throw new ArgumentException($"models with {target.Channels} channels are not supported (1 or 3)");
        int n = w * h;
        bool colour = c >= 3, alpha = c is 2 or 4;
        // Planes of the source in [0, 255], alpha already applied.
        var planes = new float[colour ? 3 : 1][];
        for (int k = 0; k < planes.Length; k++) planes[k] = new float[n];
        for (int i = 0; i < n; i++)
        {
            int o = i * c;
            float a = alpha && !premultiplied ? src[o + c - 1] / 255f : 1f;
            if (colour)
            {
                planes[0][i] = src[o] * a;
                planes[1][i] = src[o + 1] * a;
                planes[2][i] = src[o + 2] * a;
            }
            else planes[0][i] = src[o] * a;
        }
        float[][] wanted;
        if (target.Channels == 1)
        {
            if (colour)
            {
                var grey = new float[n];
                for (int i = 0; i < n; i++) grey[i] = 0.299f * planes[0][i] + 0.587f * planes[1][i] + 0.114f * planes[2][i];
                wanted = [grey];
            }
            else wanted = planes;
        }
        else wanted = colour ? planes : [planes[0], planes[0], planes[0]];

        int plane = target.Height * target.Width;
        var result = new byte[target.Channels * plane];
        for (int k = 0; k < wanted.Length; k++)
        {
            var resized = Resampler.Fit(wanted[k], w, h, target.Width, target.Height, resize);
            for (int i = 0; i < plane; i++) result[k * plane + i] = (byte)Math.Clamp(MathF.Round(resized[i]), 0, 255);
        }
        return result;
    }
}
