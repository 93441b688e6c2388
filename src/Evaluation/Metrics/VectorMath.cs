using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CadStream.Evaluation.Metrics;

/// <summary>
/// Dot products and squared-distance tiles shared by the metrics.
/// Every dot product here performs the same per-element arithmetic in the same order (one SIMD
/// accumulator per product, the same horizontal sum, the same scalar tail), whichever kernel
/// computes it. Hence dist(x, y) is bit-for-bit equal to dist(y, x) and to the distance between
/// identical copies of x and y in another set, so ball-membership ties (&lt;=) are decided
/// consistently, e.g. when the fake set contains copies of real points.
/// </summary>
internal static class VectorMath
{
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("Length mismatch.");
        return Dot(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), a.Length);
    }

    static double Dot(ref double a, ref double b, int n)
    {
        int w = Vector<double>.Count;
        var acc = Vector<double>.Zero;
        int k = 0;
        for (; k <= n - w; k += w)
            acc = Vector.MultiplyAddEstimate(Vector.LoadUnsafe(ref a, (nuint)k), Vector.LoadUnsafe(ref b, (nuint)k), acc);
        double s = Vector.Sum(acc);
        for (; k < n; k++) s += Unsafe.Add(ref a, k) * Unsafe.Add(ref b, k);
        return s;
    }

    /// <summary>y += alpha * x.</summary>
    public static void Axpy(Span<double> y, double alpha, ReadOnlySpan<double> x)
    {
        if (x.Length != y.Length) throw new ArgumentException("Length mismatch.");
        int n = y.Length, w = Vector<double>.Count, k = 0;
        ref double ry = ref MemoryMarshal.GetReference(y);
        ref double rx = ref MemoryMarshal.GetReference(x);
        var va = new Vector<double>(alpha);
        for (; k <= n - w; k += w)
            Vector.MultiplyAddEstimate(va, Vector.LoadUnsafe(ref rx, (nuint)k), Vector.LoadUnsafe(ref ry, (nuint)k))
                .StoreUnsafe(ref ry, (nuint)k);
        for (; k < n; k++) Unsafe.Add(ref ry, k) += alpha * Unsafe.Add(ref rx, k);
    }

    /// <summary>Four dot products of a with b0..b3; each bit-identical to <see cref="Dot(ref double, ref double, int)"/>.</summary>
    static void Dot4(ref double a, ref double b0, ref double b1, ref double b2, ref double b3, int n,
        out double d0, out double d1, out double d2, out double d3)
    {
        int w = Vector<double>.Count;
        Vector<double> c0 = Vector<double>.Zero, c1 = c0, c2 = c0, c3 = c0;
        int k = 0;
        for (; k <= n - w; k += w)
        {
            var va = Vector.LoadUnsafe(ref a, (nuint)k);
            c0 = Vector.MultiplyAddEstimate(va, Vector.LoadUnsafe(ref b0, (nuint)k), c0);
            c1 = Vector.MultiplyAddEstimate(va, Vector.LoadUnsafe(ref b1, (nuint)k), c1);
            c2 = Vector.MultiplyAddEstimate(va, Vector.LoadUnsafe(ref b2, (nuint)k), c2);
            c3 = Vector.MultiplyAddEstimate(va, Vector.LoadUnsafe(ref b3, (nuint)k), c3);
        }
        d0 = Vector.Sum(c0); d1 = Vector.Sum(c1); d2 = Vector.Sum(c2); d3 = Vector.Sum(c3);
        for (; k < n; k++)
        {
            double x = Unsafe.Add(ref a, k);
            d0 += x * Unsafe.Add(ref b0, k);
            d1 += x * Unsafe.Add(ref b1, k);
            d2 += x * Unsafe.Add(ref b2, k);
            d3 += x * Unsafe.Add(ref b3, k);
        }
    }

    /// <summary>
    /// Dot products of a0 and a1 with b0..b3 (register-blocked 2 x 4, so each load feeds two or
    /// four multiply-adds); each result is bit-identical to <see cref="Dot(ref double, ref double, int)"/>.
    /// </summary>
    static void Dot2x4(ref double a0, ref double a1, ref double b0, ref double b1, ref double b2, ref double b3, int n,
        Span<double> out0, Span<double> out1)
    {
        int w = Vector<double>.Count;
        Vector<double> c00 = Vector<double>.Zero, c01 = c00, c02 = c00, c03 = c00;
        Vector<double> c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        int k = 0;
        for (; k <= n - w; k += w)
        {
            var x0 = Vector.LoadUnsafe(ref a0, (nuint)k);
            var x1 = Vector.LoadUnsafe(ref a1, (nuint)k);
            var y = Vector.LoadUnsafe(ref b0, (nuint)k);
            c00 = Vector.MultiplyAddEstimate(x0, y, c00);
            c10 = Vector.MultiplyAddEstimate(x1, y, c10);
            y = Vector.LoadUnsafe(ref b1, (nuint)k);
            c01 = Vector.MultiplyAddEstimate(x0, y, c01);
            c11 = Vector.MultiplyAddEstimate(x1, y, c11);
            y = Vector.LoadUnsafe(ref b2, (nuint)k);
            c02 = Vector.MultiplyAddEstimate(x0, y, c02);
            c12 = Vector.MultiplyAddEstimate(x1, y, c12);
            y = Vector.LoadUnsafe(ref b3, (nuint)k);
            c03 = Vector.MultiplyAddEstimate(x0, y, c03);
            c13 = Vector.MultiplyAddEstimate(x1, y, c13);
        }
        double d00 = Vector.Sum(c00), d01 = Vector.Sum(c01), d02 = Vector.Sum(c02), d03 = Vector.Sum(c03);
        double d10 = Vector.Sum(c10), d11 = Vector.Sum(c11), d12 = Vector.Sum(c12), d13 = Vector.Sum(c13);
        for (; k < n; k++)
        {
            double x0 = Unsafe.Add(ref a0, k), x1 = Unsafe.Add(ref a1, k);
            double y0 = Unsafe.Add(ref b0, k), y1 = Unsafe.Add(ref b1, k), y2 = Unsafe.Add(ref b2, k), y3 = Unsafe.Add(ref b3, k);
            d00 += x0 * y0; d01 += x0 * y1; d02 += x0 * y2; d03 += x0 * y3;
            d10 += x1 * y0; d11 += x1 * y1; d12 += x1 * y2; d13 += x1 * y3;
        }
        out0[0] = d00; out0[1] = d01; out0[2] = d02; out0[3] = d03;
        out1[0] = d10; out1[1] = d11; out1[2] = d12; out1[3] = d13;
    }

    /// <summary>Squared Euclidean norm of every row.</summary>
    public static double[] RowNorms(FeatureSet x)
    {
        var norms = new double[x.Rows];
        var data = x.Data;
        int dim = x.Dim;
        for (int i = 0; i < norms.Length; i++)
        {
            var row = data.AsSpan(i * dim, dim);
            norms[i] = Dot(row, row);
        }
        return norms;
    }

    /// <summary>
    /// tile[ii * nj + jj] = |a_(i0+ii) - b_(j0+jj)|^2, computed as |a|^2 + |b|^2 - 2 a.b (clamped at 0).
    /// In double precision the cancellation error is negligible unless the points lie ~1e7 times
    /// farther from the origin than from each other.
    /// </summary>
    public static void SquaredDistanceTile(
        double[] a, double[] normA, int i0, int ni,
        double[] b, double[] normB, int j0, int nj,
        int dim, double[] tile)
    {
        ref double aa = ref MemoryMarshal.GetArrayDataReference(a);
        ref double bb = ref MemoryMarshal.GetArrayDataReference(b);
        Span<double> dots = stackalloc double[8];
        int ii = 0;
        for (; ii + 1 < ni; ii += 2)
        {
            int i = i0 + ii;
            ref double ai0 = ref Unsafe.Add(ref aa, (nint)i * dim);
            ref double ai1 = ref Unsafe.Add(ref aa, (nint)(i + 1) * dim);
            double na0 = normA[i], na1 = normA[i + 1];
            int t0 = ii * nj, t1 = t0 + nj;
            int jj = 0;
            for (; jj + 3 < nj; jj += 4)
            {
                int j = j0 + jj;
                Dot2x4(ref ai0, ref ai1,
                    ref Unsafe.Add(ref bb, (nint)j * dim), ref Unsafe.Add(ref bb, (nint)(j + 1) * dim),
                    ref Unsafe.Add(ref bb, (nint)(j + 2) * dim), ref Unsafe.Add(ref bb, (nint)(j + 3) * dim),
                    dim, dots[..4], dots[4..]);
                for (int q = 0; q < 4; q++)
                {
                    tile[t0 + jj + q] = Dist(na0, normB[j + q], dots[q]);
                    tile[t1 + jj + q] = Dist(na1, normB[j + q], dots[4 + q]);
                }
            }
            for (; jj < nj; jj++)
            {
                int j = j0 + jj;
                ref double bj = ref Unsafe.Add(ref bb, (nint)j * dim);
                tile[t0 + jj] = Dist(na0, normB[j], Dot(ref ai0, ref bj, dim));
                tile[t1 + jj] = Dist(na1, normB[j], Dot(ref ai1, ref bj, dim));
            }
        }
        for (; ii < ni; ii++)
        {
            int i = i0 + ii;
            ref double ai = ref Unsafe.Add(ref aa, (nint)i * dim);
            double na = normA[i];
            int t = ii * nj;
            int jj = 0;
            for (; jj + 3 < nj; jj += 4)
            {
                int j = j0 + jj;
                Dot4(ref ai,
                    ref Unsafe.Add(ref bb, (nint)j * dim), ref Unsafe.Add(ref bb, (nint)(j + 1) * dim),
                    ref Unsafe.Add(ref bb, (nint)(j + 2) * dim), ref Unsafe.Add(ref bb, (nint)(j + 3) * dim),
                    dim, out double d0, out double d1, out double d2, out double d3);
                tile[t + jj] = Dist(na, normB[j], d0);
                tile[t + jj + 1] = Dist(na, normB[j + 1], d1);
                tile[t + jj + 2] = Dist(na, normB[j + 2], d2);
                tile[t + jj + 3] = Dist(na, normB[j + 3], d3);
            }
            for (; jj < nj; jj++)
            {
                int j = j0 + jj;
                tile[t + jj] = Dist(na, normB[j], Dot(ref ai, ref Unsafe.Add(ref bb, (nint)j * dim), dim));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static double Dist(double na, double nb, double dot)
    {
        double d = (na + nb) - 2.0 * dot; // na + nb is commutative, so d(x, y) == d(y, x) exactly
        return d > 0 ? d : 0;
    }
}
