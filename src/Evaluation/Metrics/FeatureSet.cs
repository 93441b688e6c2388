namespace CadStream.Evaluation.Metrics;

/// <summary>
/// An immutable n x d block of feature vectors (row-major, one sample per row), held in double
/// precision. Construction copies the input and rejects NaN/infinity, so a bad feature cannot
/// silently corrupt a metric.
/// </summary>
public sealed class FeatureSet
{
    readonly double[] _data;

    public int Rows { get; }
    public int Dim { get; }

    /// <summary>All values, row-major (<see cref="Rows"/> x <see cref="Dim"/>).</summary>
    public ReadOnlySpan<double> Values => _data;

    public ReadOnlySpan<double> Row(int row) => _data.AsSpan(checked(row * Dim), Dim);

    public double this[int row, int col] =>
        (uint)col < (uint)Dim ? _data[checked(row * Dim + col)] : throw new ArgumentOutOfRangeException(nameof(col));

    public FeatureSet(int rows, int dim, ReadOnlySpan<double> data)
    {
        Check(rows, dim, data.Length);
        _data = data.ToArray();
        CheckFinite(_data);
        Rows = rows;
        Dim = dim;
    }

    public FeatureSet(int rows, int dim, ReadOnlySpan<float> data)
    {
        Check(rows, dim, data.Length);
        _data = new double[data.Length];
        for (int i = 0; i < data.Length; i++) _data[i] = data[i];
        CheckFinite(_data);
        Rows = rows;
        Dim = dim;
    }

    /// <summary>Builds a set from equally long rows.</summary>
    public static FeatureSet FromRows(IReadOnlyList<double[]> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0) throw new ArgumentException("At least one row is required.", nameof(rows));
        int dim = rows[0].Length;
        var data = new double[checked(rows.Count * dim)];
        for (int i = 0; i < rows.Count; i++)
        {
            if (rows[i].Length != dim) throw new ArgumentException($"Row {i} has {rows[i].Length} values, expected {dim}.", nameof(rows));
            rows[i].CopyTo(data, i * dim);
        }
        return new FeatureSet(rows.Count, dim, data);
    }

    /// <summary>The backing array; callers inside this assembly must not modify it.</summary>
    internal double[] Data => _data;

    static void Check(int rows, int dim, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        if ((long)rows * dim != length)
            throw new ArgumentException($"Expected {rows} x {dim} = {(long)rows * dim} values, got {length}.", "data");
    }

    static void CheckFinite(double[] data)
    {
        for (int i = 0; i < data.Length; i++)
            if (!double.IsFinite(data[i]))
                throw new ArgumentException($"Feature value at flat index {i} is not finite ({data[i]}).", "data");
    }
}
