using SkiaSharp;

namespace CadStream.Imaging;

/// <summary>Turns decoded pixels upright by an image's EXIF orientation (TIFF tag 274, values 1..8).</summary>
public static class Orientation
{
    /// <summary>
    /// Interleaved pixels of <paramref name="w"/> x <paramref name="h"/> with <paramref name="c"/> channels, as
    /// stored, to the picture as shown; the sides swap for the four orientations that turn by a quarter.
    /// </summary>
    public static (byte[] Pixels, int Width, int Height) Apply(byte[] src, int w, int h, int c, SKEncodedOrigin origin)
    {
        if (origin is SKEncodedOrigin.TopLeft || (int)origin is < 1 or > 8) return (src, w, h);
        bool swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        int ow = swap ? h : w, oh = swap ? w : h;
        var dst = new byte[src.Length];
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
            {
                // The stored pixel shown at (x, y).
                var (sx, sy) = origin switch
                {
                    SKEncodedOrigin.TopRight => (w - 1 - x, y),              // mirrored left-right
                    SKEncodedOrigin.BottomRight => (w - 1 - x, h - 1 - y),   // turned 180 degrees
                    SKEncodedOrigin.BottomLeft => (x, h - 1 - y),            // mirrored top-bottom
                    SKEncodedOrigin.LeftTop => (y, x),                       // transposed
                    SKEncodedOrigin.RightTop => (y, h - 1 - x),              // to turn 90 degrees clockwise
                    SKEncodedOrigin.RightBottom => (w - 1 - y, h - 1 - x),   // transverse
                    _ => (w - 1 - y, x),                                     // LeftBottom: to turn 90 degrees anticlockwise
                };
                Array.Copy(src, (sy * w + sx) * c, dst, (y * ow + x) * c, c);
            }
        return (dst, ow, oh);
    }
}
