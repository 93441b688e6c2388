using TorchSharp;
using static TorchSharp.torch;

namespace CadStream.Model;

/// <summary>
/// Tensor arithmetic whose native values live through the whole native call. TorchSharp 0.107 turns a number
/// (and add's implicit alpha of 1) into a Scalar that only its finalizer frees; once its handle is read nothing
/// references it, so a collection may free it while libtorch still reads it ("Expected false to be true ...
/// toFloat" in add; docs/architecture.md, "Measured facts"). Here constants are static Scalars, any other number
/// is held by a using around the call, and the tensors passed in stay reachable until it returns. The build's
/// analyzer (build/Analyzers) rejects the forms that let go: <c>x + y</c>, <c>x * 0.5</c>, <c>x.mul_(0.9)</c>.
/// Tensor-tensor <c>-</c>, <c>*</c> and <c>/</c> make no Scalar and stay operators.
/// </summary>
public static class TensorMath
{
    // What TorchSharp's own overloads pass: add's alpha and square's exponent are the integers 1 and 2.
    static readonly Scalar Zero = 0.ToScalar(), One = 1.ToScalar(), Two = 2.ToScalar();

    /// <summary>x + y.</summary>
    public static Tensor Plus(this Tensor x, Tensor y) => Kept(x.add(y, One), x, y);

    /// <summary>x + v.</summary>
    public static Tensor Plus(this Tensor x, double v) { using var s = v.ToScalar(); return Kept(x.add(s, One), x); }

    /// <summary>x + v, with an integer v (an integer tensor stays integer).</summary>
    public static Tensor Plus(this Tensor x, long v) { using var s = v.ToScalar(); return Kept(x.add(s, One), x); }

    /// <summary>x - v.</summary>
    public static Tensor Minus(this Tensor x, double v) { using var s = v.ToScalar(); return Kept(x.sub(s), x); }

    /// <summary>v - x.</summary>
    public static Tensor SubtractedFrom(this Tensor x, double v)
    {
        using var s = v.ToScalar();
        using var negated = x.neg();
        return Kept(negated.add(s, One), x);
    }

    /// <summary>x * v.</summary>
    public static Tensor Times(this Tensor x, double v) { using var s = v.ToScalar(); return Kept(x.mul(s), x); }

    /// <summary>x * v, with an integer v.</summary>
    public static Tensor Times(this Tensor x, long v) { using var s = v.ToScalar(); return Kept(x.mul(s), x); }

    /// <summary>x / v.</summary>
    public static Tensor DividedBy(this Tensor x, double v) { using var s = v.ToScalar(); return Kept(x.div(s), x); }

    /// <summary>x * x (TorchSharp's square(), which is pow(2)).</summary>
    public static Tensor Squared(this Tensor x) => Kept(x.pow(Two), x);

    /// <summary>x += v, in place; returns x.</summary>
    public static Tensor PlusInPlace(this Tensor x, double v) { using var s = v.ToScalar(); return x.add_(s, One); }

    /// <summary>x += v with an integer v (a counter), in place; returns x.</summary>
    public static Tensor PlusInPlace(this Tensor x, long v) { using var s = v.ToScalar(); return x.add_(s, One); }

    /// <summary>x *= v, in place; returns x.</summary>
    public static Tensor TimesInPlace(this Tensor x, double v) { using var s = v.ToScalar(); return x.mul_(s); }

    /// <summary>Clamps x to [min, max] in place; returns x.</summary>
    public static Tensor ClampInPlace(this Tensor x, double min, double max)
    {
        using var lo = min.ToScalar();
        using var hi = max.ToScalar();
        return x.clamp_(lo, hi);
    }

    /// <summary>max(x, min).</summary>
    public static Tensor ClampMin(this Tensor x, double min) { using var s = min.ToScalar(); return Kept(x.clamp_min(s), x); }

    /// <summary>Sets every element of x to v; returns x.</summary>
    public static Tensor FillInPlace(this Tensor x, double v) { using var s = v.ToScalar(); return x.fill_(s); }

    /// <summary>A vector of <paramref name="size"/> elements equal to <paramref name="value"/>.</summary>
    public static Tensor Full(long size, double value, ScalarType dtype, Device? device = null)
    {
        using var s = value.ToScalar();
        return full(size, s, dtype, device);
    }

    /// <summary>0, 1, ..., <paramref name="end"/> - 1.</summary>
    public static Tensor Arange(long end, ScalarType dtype, Device? device = null)
    {
        using var stop = end.ToScalar();
        return arange(Zero, stop, One, dtype, device);
    }

    /// <summary>Returns <paramref name="result"/>, the tensors it was made from kept reachable until now.</summary>
    static Tensor Kept(Tensor result, Tensor x, Tensor? y = null)
    {
        GC.KeepAlive(x);
        GC.KeepAlive(y);
        return result;
    }
}
