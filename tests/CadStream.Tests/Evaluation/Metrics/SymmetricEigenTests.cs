using CadStream.Evaluation.Metrics;

namespace CadStream.Tests.Evaluation.Metrics;

public class SymmetricEigenTests
{
    [Fact]
    public void Diagonal_matrix_gives_its_entries_sorted_and_unit_vectors()
    {
        var eig = SymmetricEigen.Decompose(TestData.Diagonal(3, -1, 2), 3);

        Assert.Equal(new[] { -1.0, 2.0, 3.0 }, eig.Values.ToArray());
        // -1 belongs to axis 1, 2 to axis 2, 3 to axis 0 (up to sign).
        Assert.Equal(1.0, Math.Abs(eig.Vector(1, 0)), 12);
        Assert.Equal(1.0, Math.Abs(eig.Vector(2, 1)), 12);
        Assert.Equal(1.0, Math.Abs(eig.Vector(0, 2)), 12);
    }

    [Fact]
    public void Two_by_two_has_known_eigenpairs()
    {
        // [[2,1],[1,2]]: λ = 1 with (1,-1)/√2, λ = 3 with (1,1)/√2.
        var eig = SymmetricEigen.Decompose(new double[,] { { 2, 1 }, { 1, 2 } });

        Assert.Equal(1.0, eig.Values[0], 12);
        Assert.Equal(3.0, eig.Values[1], 12);
        double h = Math.Sqrt(0.5);
        Assert.Equal(h, Math.Abs(eig.Vector(0, 0)), 12);
        Assert.Equal(-1.0, Math.Sign(eig.Vector(0, 0)) * Math.Sign(eig.Vector(1, 0)));
        Assert.Equal(h, Math.Abs(eig.Vector(0, 1)), 12);
        Assert.Equal(1.0, Math.Sign(eig.Vector(0, 1)) * Math.Sign(eig.Vector(1, 1)));
    }

    [Fact]
    public void One_by_one_and_empty()
    {
        Assert.Equal(new[] { -4.5 }, SymmetricEigen.Decompose([-4.5], 1).Values.ToArray());
        Assert.Equal(new[] { 1.0 }, SymmetricEigen.Decompose([-4.5], 1).Vectors.ToArray());
        Assert.Empty(SymmetricEigen.Decompose([], 0).Values.ToArray());
    }

    [Fact]
    public void Random_50x50_spd_is_reconstructed_and_vectors_are_orthonormal()
    {
        const int n = 50;
        var rng = new Random(1234);
        var b = TestData.NormalArray(rng, n * n);
        var a = new double[n * n]; // B Bᵀ + I
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double s = i == j ? 1 : 0;
                for (int k = 0; k < n; k++) s += b[i * n + k] * b[j * n + k];
                a[i * n + j] = s;
            }

        var eig = SymmetricEigen.Decompose(a, n);

        double maxAbs = a.Max(Math.Abs);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double rec = 0, gram = 0;
                for (int k = 0; k < n; k++)
                {
                    rec += eig.Vector(i, k) * eig.Values[k] * eig.Vector(j, k);
                    gram += eig.Vector(k, i) * eig.Vector(k, j);
                }
                Assert.True(Math.Abs(rec - a[i * n + j]) <= 1e-9 * maxAbs, $"A[{i},{j}] = {a[i * n + j]}, reconstructed {rec}");
                Assert.True(Math.Abs(gram - (i == j ? 1 : 0)) <= 1e-12, $"VᵀV[{i},{j}] = {gram}");
            }
        Assert.True(eig.Values[0] >= 1 - 1e-9, "B Bᵀ + I has all eigenvalues >= 1");
        for (int k = 1; k < n; k++) Assert.True(eig.Values[k - 1] <= eig.Values[k]);
    }

    [Fact]
    public void Known_spectrum_with_repeated_and_negative_eigenvalues_is_recovered()
    {
        double[] spectrum = [5, -2, 1, 5, 1, 1, 0, 1e-12];
        var q = TestData.RandomOrthogonal(new Random(7), spectrum.Length);
        var a = TestData.WithEigenvalues(q, spectrum);

        var expected = spectrum.Order().ToArray();
        var values = SymmetricEigen.Decompose(a, spectrum.Length).Values.ToArray();
        var valuesOnly = SymmetricEigen.Eigenvalues(a, spectrum.Length);
        for (int k = 0; k < expected.Length; k++)
        {
            Assert.Equal(expected[k], values[k], 1e-12);
            Assert.Equal(expected[k], valuesOnly[k], 1e-12);
        }
    }

    [Fact]
    public void Uses_symmetric_part_and_rejects_non_finite_input()
    {
        // (A + Aᵀ)/2 of [[2, 1.5],[0.5, 2]] is [[2,1],[1,2]].
        var eig = SymmetricEigen.Decompose([2, 1.5, 0.5, 2], 2);
        Assert.Equal(1.0, eig.Values[0], 12);
        Assert.Equal(3.0, eig.Values[1], 12);

        Assert.Throws<ArgumentException>(() => SymmetricEigen.Decompose([1, double.NaN, double.NaN, 1], 2));
        Assert.Throws<ArgumentException>(() => SymmetricEigen.Decompose([1, 2, 3], 2));
    }
}
