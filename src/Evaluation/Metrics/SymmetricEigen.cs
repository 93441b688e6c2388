using MathNet.Numerics.LinearAlgebra;

namespace CadStream.Evaluation.Metrics;

/// <summary>
/// Eigendecomposition A = V diag(λ) Vᵀ of a real symmetric matrix, by Math.NET Numerics' symmetric
/// solver (Householder tridiagonalisation and implicit QL). Eigenvalues come in ascending order and
/// V is orthogonal. Only the symmetric part (A + Aᵀ)/2 is used, so the rounding asymmetry of a
/// product like B S B does no harm.
/// </summary>
public sealed class SymmetricEigen
{
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

    /// <summary>Decomposes the n x n row-major matrix.</summary>
    public static SymmetricEigen Decompose(ReadOnlySpan<double> matrix, int n)
    {
        var a = Symmetric(matrix, n);
        if (n == 0) return new SymmetricEigen(0, [], []);
        var evd = a.Evd(Symmetricity.Symmetric);
        var order = Ascending(evd.EigenValues.Select(v => v.Real).ToArray());
        var values = order.Select(i => evd.EigenValues[i].Real).ToArray();
        var v = evd.EigenVectors;
        var vectors = new double[n * n];
        for (int col = 0; col < n; col++)
            for (int row = 0; row < n; row++)
                vectors[row * n + col] = v[row, order[col]];
        return new SymmetricEigen(n, values, vectors);
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

    /// <summary>Eigenvalues only, ascending.</summary>
    public static double[] Eigenvalues(ReadOnlySpan<double> matrix, int n) => Decompose(matrix, n)._values;

    static Matrix<double> Symmetric(ReadOnlySpan<double> matrix, int n)
    {
        if (n < 0 || matrix.Length != (long)n * n) throw new ArgumentException($"Expected {n} x {n} = {(long)n * n} values, got {matrix.Length}.", nameof(matrix));
        var a = Matrix<double>.Build.Dense(n, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double x = 0.5 * (matrix[i * n + j] + matrix[j * n + i]);
                if (!double.IsFinite(x)) throw new ArgumentException($"Matrix has a non-finite value at ({i}, {j}).", nameof(matrix));
                a[i, j] = x;
            }
        return a;
    }

    static int[] Ascending(double[] values)
    {
        var order = Enumerable.Range(0, values.Length).ToArray();
        Array.Sort(values.ToArray(), order);
        return order;
    }
}
