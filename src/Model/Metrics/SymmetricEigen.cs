namespace CadStream.Model.Metrics;

/// <summary>
/// Eigendecomposition A = V diag(λ) Vᵀ of a real symmetric matrix, by Householder reduction to
/// tridiagonal form followed by the implicit QL algorithm (EISPACK tred2/tql2, as in JAMA, with
/// the inner loops reordered to run along contiguous rows).
/// Eigenvalues are returned in ascending order; V is orthogonal.
/// </summary>
public sealed class SymmetricEigen
{
    const int MaxIterationsPerEigenvalue = 60;

    readonly double[] _values;
    readonly double[] _vectors;

    public int Size { get; }

    /// <summary>Eigenvalues, ascending.</summary>
    public ReadOnlySpan<double> Values => _values;

    /// <summary>Eigenvectors, row-major Size x Size: column j is the unit eigenvector of <c>Values[j]</c>.</summary>
    public ReadOnlySpan<double> Vectors => _vectors;

    /// <summary>Component <paramref name="row"/> of the eigenvector for <c>Values[column]</c>.</summary>
    public double Vector(int row, int column) => _vectors[row * Size + column];

    SymmetricEigen(int n, double[] values, double[] vectors)
    {
        Size = n;
        _values = values;
        _vectors = vectors;
    }

    /// <summary>
    /// Decomposes the n x n row-major matrix. Only the symmetric part (A + Aᵀ)/2 is used, so tiny
    /// rounding asymmetries (e.g. from forming B S B) do no harm.
    /// </summary>
    public static SymmetricEigen Decompose(ReadOnlySpan<double> matrix, int n)
    {
        var v = Load(matrix, n);
        var d = new double[n];
        var e = new double[n];
        if (n == 0) return new SymmetricEigen(0, d, []);
        Tred2(v, d, e, n);
        // tql2 rotates pairs of columns of V; work on Vᵀ so those become contiguous rows.
        var w = Transpose(v, n);
        Tql2(w, d, e, n, computeVectors: true);
        var vectors = new double[n * n];
        for (int col = 0; col < n; col++)
            for (int row = 0; row < n; row++)
                vectors[row * n + col] = w[col][row];
        return new SymmetricEigen(n, d, vectors);
    }

    public static SymmetricEigen Decompose(double[,] matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        int n = matrix.GetLength(0);
        if (matrix.GetLength(1) != n) throw new ArgumentException("Matrix must be square.", nameof(matrix));
        var flat = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                flat[i * n + j] = matrix[i, j];
        return Decompose(flat, n);
    }

    /// <summary>Eigenvalues only (ascending); skips accumulating the QL rotations.</summary>
    public static double[] Eigenvalues(ReadOnlySpan<double> matrix, int n)
    {
        var v = Load(matrix, n);
        var d = new double[n];
        var e = new double[n];
        if (n == 0) return d;
        Tred2(v, d, e, n);
        Tql2(v, d, e, n, computeVectors: false);
        return d;
    }

    static double[][] Load(ReadOnlySpan<double> matrix, int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        if (matrix.Length != (long)n * n)
            throw new ArgumentException($"Expected {n} x {n} = {(long)n * n} values, got {matrix.Length}.", nameof(matrix));
        var v = new double[n][];
        for (int i = 0; i < n; i++)
        {
            v[i] = new double[n];
            for (int j = 0; j < n; j++)
            {
                double a = matrix[i * n + j];
                if (!double.IsFinite(a)) throw new ArgumentException($"Matrix entry ({i}, {j}) is not finite ({a}).", nameof(matrix));
                v[i][j] = 0.5 * (a + matrix[j * n + i]);
            }
        }
        return v;
    }

    static double[][] Transpose(double[][] v, int n)
    {
        var t = new double[n][];
        for (int i = 0; i < n; i++)
        {
            t[i] = new double[n];
            for (int j = 0; j < n; j++) t[i][j] = v[j][i];
        }
        return t;
    }

    /// <summary>Householder tridiagonalisation: on exit d = diagonal, e[1..] = subdiagonal, V = accumulated transform.</summary>
    static void Tred2(double[][] V, double[] d, double[] e, int n)
    {
        for (int j = 0; j < n; j++) d[j] = V[n - 1][j];

        for (int i = n - 1; i > 0; i--)
        {
            // Scale to avoid under/overflow.
            double scale = 0.0, h = 0.0;
            for (int k = 0; k < i; k++) scale += Math.Abs(d[k]);
            if (scale == 0.0)
            {
                e[i] = d[i - 1];
                for (int j = 0; j < i; j++)
                {
                    d[j] = V[i - 1][j];
                    V[i][j] = 0.0;
                    V[j][i] = 0.0;
                }
            }
            else
            {
                // Generate Householder vector.
                for (int k = 0; k < i; k++)
                {
                    d[k] /= scale;
                    h += d[k] * d[k];
                }
                double f = d[i - 1];
                double g = Math.Sqrt(h);
                if (f > 0) g = -g;
                e[i] = scale * g;
                h -= f * g;
                d[i - 1] = f - g;
                for (int j = 0; j < i; j++) e[j] = 0.0;

                // Apply similarity transformation to remaining columns: e = A d over the leading
                // i x i block, whose lower triangle is stored row-wise (rows are contiguous).
                for (int j = 0; j < i; j++) V[j][i] = d[j];
                var dHead = d.AsSpan(0, i);
                var eHead = e.AsSpan(0, i);
                for (int k = 0; k < i; k++)
                {
                    var row = V[k].AsSpan(0, k);
                    e[k] += V[k][k] * d[k] + VectorMath.Dot(row, dHead[..k]);
                    VectorMath.Axpy(eHead[..k], d[k], row);
                }
                f = 0.0;
                for (int j = 0; j < i; j++)
                {
                    e[j] /= h;
                    f += e[j] * d[j];
                }
                double hh = f / (h + h);
                for (int j = 0; j < i; j++) e[j] -= hh * d[j];
                // Rank-2 update of the lower triangle: A[k][j] -= d[j] e[k] + e[j] d[k], j <= k < i.
                for (int k = 0; k < i; k++)
                {
                    var row = V[k].AsSpan(0, k + 1);
                    VectorMath.Axpy(row, -e[k], dHead[..(k + 1)]);
                    VectorMath.Axpy(row, -d[k], eHead[..(k + 1)]);
                }
                for (int j = 0; j < i; j++)
                {
                    d[j] = V[i - 1][j];
                    V[i][j] = 0.0;
                }
            }
            d[i] = h;
        }

        // Accumulate transformations.
        var work = new double[n];
        for (int i = 0; i < n - 1; i++)
        {
            V[n - 1][i] = V[i][i];
            V[i][i] = 1.0;
            double h = d[i + 1];
            if (h != 0.0)
            {
                // g_j = Σ_k V[k][i+1] V[k][j], then V[k][j] -= g_j d[k] (k, j <= i), by rows.
                for (int k = 0; k <= i; k++) d[k] = V[k][i + 1] / h;
                var g = work.AsSpan(0, i + 1);
                g.Clear();
                for (int k = 0; k <= i; k++) VectorMath.Axpy(g, V[k][i + 1], V[k].AsSpan(0, i + 1));
                for (int k = 0; k <= i; k++) VectorMath.Axpy(V[k].AsSpan(0, i + 1), -d[k], g);
            }
            for (int k = 0; k <= i; k++) V[k][i + 1] = 0.0;
        }
        for (int j = 0; j < n; j++)
        {
            d[j] = V[n - 1][j];
            V[n - 1][j] = 0.0;
        }
        V[n - 1][n - 1] = 1.0;
        e[0] = 0.0;
    }

    /// <summary>
    /// Implicit QL on the tridiagonal (d, e). W holds the transform transposed (row i = column i
    /// of V); on exit d is sorted ascending and W's rows are the matching eigenvectors.
    /// </summary>
    static void Tql2(double[][] W, double[] d, double[] e, int n, bool computeVectors)
    {
        for (int i = 1; i < n; i++) e[i - 1] = e[i];
        e[n - 1] = 0.0;

        double f = 0.0, tst1 = 0.0;
        const double eps = 2.220446049250313e-16; // 2^-52
        for (int l = 0; l < n; l++)
        {
            // Find small subdiagonal element.
            tst1 = Math.Max(tst1, Math.Abs(d[l]) + Math.Abs(e[l]));
            int m = l;
            while (m < n - 1 && Math.Abs(e[m]) > eps * tst1) m++; // e[n-1] == 0 stops it at n-1

            // If m == l, d[l] is an eigenvalue; otherwise iterate.
            if (m > l)
            {
                int iter = 0;
                do
                {
                    if (++iter > MaxIterationsPerEigenvalue)
                        throw new InvalidOperationException("Symmetric eigensolver did not converge.");

                    // Compute implicit shift.
                    double g = d[l];
                    double p = (d[l + 1] - g) / (2.0 * e[l]);
                    double r = Hypot(p, 1.0);
                    if (p < 0) r = -r;
                    d[l] = e[l] / (p + r);
                    d[l + 1] = e[l] * (p + r);
                    double dl1 = d[l + 1];
                    double h = g - d[l];
                    for (int i = l + 2; i < n; i++) d[i] -= h;
                    f += h;

                    // Implicit QL transformation.
                    p = d[m];
                    double c = 1.0, c2 = c, c3 = c;
                    double el1 = e[l + 1];
                    double s = 0.0, s2 = 0.0;
                    for (int i = m - 1; i >= l; i--)
                    {
                        c3 = c2;
                        c2 = c;
                        s2 = s;
                        g = c * e[i];
                        h = c * p;
                        r = Hypot(p, e[i]);
                        e[i + 1] = s * r;
                        s = e[i] / r;
                        c = p / r;
                        p = c * d[i] - s * g;
                        d[i + 1] = h + s * (c * g + s * d[i]);

                        if (computeVectors)
                        {
                            // Accumulate transformation on columns i, i+1 of V (rows of W).
                            VectorMath.Rotate(W[i], W[i + 1], c, s);
                        }
                    }
                    p = -s * s2 * c3 * el1 * e[l] / dl1;
                    e[l] = s * p;
                    d[l] = c * p;
                } while (Math.Abs(e[l]) > eps * tst1);
            }
            d[l] += f;
            e[l] = 0.0;
        }

        // Sort eigenvalues (and vectors) ascending.
        for (int i = 0; i < n - 1; i++)
        {
            int k = i;
            double p = d[i];
            for (int j = i + 1; j < n; j++)
            {
                if (d[j] < p)
                {
                    k = j;
                    p = d[j];
                }
            }
            if (k != i)
            {
                d[k] = d[i];
                d[i] = p;
                if (computeVectors) (W[i], W[k]) = (W[k], W[i]);
            }
        }
    }

    static double Hypot(double a, double b)
    {
        a = Math.Abs(a);
        b = Math.Abs(b);
        if (a < b) (a, b) = (b, a);
        if (a == 0) return 0;
        double r = b / a;
        return a * Math.Sqrt(1 + r * r);
    }
}
