using SkiaSharp;
using static TorchSharp.torch;

namespace CadStream.Model.Imaging;

/// <summary>Turns model outputs (N, C, H, W) in [-1, 1] into 8-bit pixels and PNG files.</summary>
public static class ImageGrid
{
    /// <summary>
    /// The inverse of <see cref="ToBytes"/>: N*C*H*W 8-bit pixels (channel-first, row-major) as a
    /// float (N, C, H, W) tensor in [-1, 1], the model's input range.
    /// </summary>
    public static Tensor FromBytes(byte[] pixels, int count, int channels, int height, int width, Device? device = null)
    {
        using var bytes = tensor(pixels, [count, channels, height, width]);
        using var f = bytes.to(ScalarType.Float32);
        var x = f / 127.5 - 1;
        if (device is null || device.type == TorchSharp.DeviceType.CPU) return x;
        using (x) return x.to(device);
    }

    /// <summary>Row-major 8-bit pixels, N*C*H*W, channel-first per image.</summary>
    public static byte[] ToBytes(Tensor images)
    {
        using var scaled = ((images.detach().cpu().to(ScalarType.Float32) + 1) * 127.5).round_().clamp_(0, 255);
        using var u8 = scaled.to(ScalarType.Byte).contiguous();
        return u8.data<byte>().ToArray();
    }

    /// <summary>
    /// One PNG holding all images in a grid of the given column count (row = image index / columns),
    /// each scaled up by an integer factor, with a thin separator.
    /// </summary>
    public static byte[] EncodeGridPng(Tensor images, int columns, int scale = 2, int gap = 2)
    {
        if (images.dim() != 4) throw new ArgumentException("expected images of shape (N, C, H, W)");
        int n = (int)images.shape[0], c = (int)images.shape[1], h = (int)images.shape[2], w = (int)images.shape[3];
        if (c is not (1 or 3)) throw new ArgumentException($"expected 1 or 3 channels (got {c})");
        columns = Math.Max(1, Math.Min(columns, n));
        int rows = (n + columns - 1) / columns;
        var pixels = ToBytes(images);
        int cellW = w * scale, cellH = h * scale;
        int width = columns * cellW + (columns + 1) * gap, height = rows * cellH + (rows + 1) * gap;
        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        bitmap.Erase(new SKColor(40, 40, 40));
        int plane = h * w;
        for (int i = 0; i < n; i++)
        {
            int ox = gap + (i % columns) * (cellW + gap), oy = gap + (i / columns) * (cellH + gap);
            int baseIdx = i * c * plane;
            for (int y = 0; y < cellH; y++)
                for (int x = 0; x < cellW; x++)
                {
                    int p = (y / scale) * w + (x / scale);
                    byte r = pixels[baseIdx + p];
                    byte g = c == 3 ? pixels[baseIdx + plane + p] : r;
                    byte b = c == 3 ? pixels[baseIdx + 2 * plane + p] : r;
                    bitmap.SetPixel(ox + x, oy + y, new SKColor(r, g, b));
                }
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
