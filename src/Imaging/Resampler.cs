namespace CadStream.Imaging;

/// <summary>
/// Separable image resizing with a bicubic kernel (a = -0.5) whose support widens by the
/// downscale factor, so shrinking averages over every source pixel instead of aliasing
/// (the scheme of Pillow's antialiased resize). Same size is an exact copy.
/// </summary>
public static class Resampler
{
    /// <summary>Resizes one row-major plane of <paramref name="width"/> x <paramref name="height"/> values.</summary>
    public static float[] Resize(ReadOnlySpan<float> plane, int width, int height, int outWidth, int outHeight)
    {
        if (width < 1 || height < 1 || outWidth < 1 || outHeight < 1)
            throw new ArgumentOutOfRangeException(nameof(width), $"sizes must be positive ({width}x{height} -> {outWidth}x{outHeight})");
        if (plane.Length != width * height)
            throw new ArgumentException($"expected {width * height} values, got {plane.Length}", nameof(plane));
        if (width == outWidth && height == outHeight) return plane.ToArray();

        // Horizontal pass: height rows of outWidth, then vertical pass: outHeight rows.
        var horizontal = new float[height * outWidth];
        var hx = Weights(width, outWidth);
        for (int y = 0; y < height; y++)
        {
            var row = plane.Slice(y * width, width);
            for (int x = 0; x < outWidth; x++)
            {
                var (start, w) = hx[x];
                double sum = 0;
                for (int k = 0; k < w.Length; k++) sum += w[k] * row[start + k];
                horizontal[y * outWidth + x] = (float)sum;
            }
        }
        var result = new float[outHeight * outWidth];
        var vy = Weights(height, outHeight);
        for (int y = 0; y < outHeight; y++)
        {
            var (start, w) = vy[y];
            for (int x = 0; x < outWidth; x++)
            {
                double sum = 0;
                for (int k = 0; k < w.Length; k++) sum += w[k] * horizontal[(start + k) * outWidth + x];
                result[y * outWidth + x] = (float)sum;
            }
        }
        return result;
    }

    /// <summary>
    /// Brings one plane to <paramref name="outWidth"/> x <paramref name="outHeight"/> by <paramref name="policy"/>:
    /// a centred crop to the target's aspect ratio, a letterbox on zeros (black), or a stretch; then <see cref="Resize"/>.
    /// </summary>
    public static float[] Fit(ReadOnlySpan<float> plane, int width, int height, int outWidth, int outHeight, ResizePolicy policy)
    {
        // Compared as cross products: the two ratios are equal exactly when width * outHeight == height * outWidth.
        long wide = (long)width * outHeight, tall = (long)height * outWidth;
        if (policy == ResizePolicy.Stretch || wide == tall) return Resize(plane, width, height, outWidth, outHeight);
        if (policy == ResizePolicy.CenterCrop)
        {
            int cw = wide > tall ? (int)Math.Max(1, Math.Round((double)height * outWidth / outHeight)) : width;
            int ch = wide > tall ? height : (int)Math.Max(1, Math.Round((double)width * outHeight / outWidth));
            int x0 = (width - cw) / 2, y0 = (height - ch) / 2;
            var crop = new float[cw * ch];
            for (int y = 0; y < ch; y++) plane.Slice((y0 + y) * width + x0, cw).CopyTo(crop.AsSpan(y * cw, cw));
            return Resize(crop, cw, ch, outWidth, outHeight);
        }
        // Pad: the whole image inside, centred.
        int fw = wide > tall ? outWidth : (int)Math.Max(1, Math.Round((double)width * outHeight / height));
        int fh = wide > tall ? (int)Math.Max(1, Math.Round((double)height * outWidth / width)) : outHeight;
        var inner = Resize(plane, width, height, fw, fh);
        var result = new float[outWidth * outHeight];
        int ox = (outWidth - fw) / 2, oy = (outHeight - fh) / 2;
        for (int y = 0; y < fh; y++) inner.AsSpan(y * fw, fw).CopyTo(result.AsSpan((oy + y) * outWidth + ox, fw));
        return result;
    }

    /// <summary>For each output index: the first source index and the normalised weights from there.</summary>
    static (int Start, double[] Weights)[] Weights(int inSize, int outSize)
    {
        double ratio = (double)inSize / outSize;
        double scale = Math.Max(1.0, ratio);
        double support = 2.0 * scale;
        var result = new (int, double[])[outSize];
        for (int i = 0; i < outSize; i++)
        {
            double center = (i + 0.5) * ratio;
            int lo = Math.Max(0, (int)Math.Floor(center - support));
            int hi = Math.Min(inSize - 1, (int)Math.Ceiling(center + support));
            var w = new double[hi - lo + 1];
            double total = 0;
            for (int j = lo; j <= hi; j++) total += w[j - lo] = Cubic((j + 0.5 - center) / scale);
            if (total == 0) { w[Math.Clamp((int)center, lo, hi) - lo] = 1; total = 1; }
            for (int k = 0; k < w.Length; k++) w[k] /= total;
            result[i] = (lo, w);
        }
        return result;
    }

    static double Cubic(double x)
    {
        const double a = -0.5;
        x = Math.Abs(x);
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
        return 0;
    }
}
