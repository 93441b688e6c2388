namespace CadStream.Catalog.Text;

/// <summary>Vector helpers for pooled text vectors.</summary>
public static class TextVectors
{
    /// <summary>Scales v to unit length in place; the package's epsilon keeps a zero vector zero.</summary>
    public static void Normalize(Span<float> v)
    {
        float sum = 0;
        foreach (var x in v) sum += x * x;
        float inv = 1f / MathF.Max(MathF.Sqrt(sum), 1e-12f);
        for (int i = 0; i < v.Length; i++) v[i] *= inv;
    }

    public static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"vectors of {a.Length} and {b.Length} values");
        double d = 0;
        for (int i = 0; i < a.Length; i++) d += (double)a[i] * b[i];
        return d;
    }

    /// <summary>Cosine similarity; 0 when either vector is zero (nothing to compare).</summary>
    public static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double na = Math.Sqrt(Dot(a, a)), nb = Math.Sqrt(Dot(b, b));
        return na == 0 || nb == 0 ? 0 : Dot(a, b) / (na * nb);
    }
}
