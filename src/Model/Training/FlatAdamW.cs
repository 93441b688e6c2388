using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CadStream.Model.Training;

/// <summary>
/// TorchSharp's AdamW, gradient-norm clipping and gradient zeroing, done on ONE flat buffer each for
/// the weights, the gradients and the two moments: the parameters (and their gradients) are re-pointed
/// at consecutive slices of those buffers, so each update is a handful of tensor ops instead of a few
/// per parameter tensor (PyTorch's foreach/fused idea; TorchSharp 0.107 has neither). Same element-wise
/// maths as optim.AdamW (defaults betas 0.9/0.999, eps 1e-8); the clipping norm is the same 2-norm,
/// summed in another order. TorchSharp's AdamW object stays as the keeper of the moments (its state
/// tensors are re-pointed too) so the optimiser state (de)serialises exactly as before.
/// </summary>
public sealed class FlatAdamW : IDisposable
{
    public const double Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8;

    // Held for the process: libtorch reads a Scalar during the call, and an unheld one may be freed meanwhile (TensorMath).
    static readonly Scalar Beta1Scalar = Beta1.ToScalar(), Beta2Scalar = Beta2.ToScalar(),
        OneMinusBeta1 = (1 - Beta1).ToScalar(), OneMinusBeta2 = (1 - Beta2).ToScalar();

    private readonly Parameter[] parameters;
    private readonly AdamW keeper;
    private readonly AdamW.State[] states;
    private readonly Tensor expAvg, expAvgSq;
    private readonly double weightDecay;

    /// <summary>All weights, one after another (a parameter is a view of its slice).</summary>
    public Tensor Weights { get; }
    /// <summary>All gradients, in the same layout.</summary>
    public Tensor Grads { get; }
    public long StepCount { get; private set; }

    public FlatAdamW(Parameter[] parameters, double lr, double weightDecay)
    {
        this.parameters = parameters;
        this.weightDecay = weightDecay;
        keeper = optim.AdamW(parameters, lr, Beta1, Beta2, Eps, weightDecay);
        states = keeper.state_dict().State.Cast<AdamW.State>().ToArray();
        if (states.Length != parameters.Length) throw new InvalidOperationException("AdamW keeps one state per parameter");
        using var _ = no_grad();
        Weights = Pack(parameters, parameters.Select(p => (Tensor)p).ToArray());
        Grads = zeros_like(Weights).DetachFromDisposeScope();
        long offset = 0;
        foreach (var p in parameters)
        {
            p.grad = Grads.narrow(0, offset, p.numel()).view(p.shape);
            offset += p.numel();
        }
        expAvg = Pack(parameters, states.Select(s => s.exp_avg).ToArray());
        expAvgSq = Pack(parameters, states.Select(s => s.exp_avg_sq).ToArray());
    }

    /// <summary>One buffer holding the tensors' values; each tensor becomes a view of its slice.</summary>
    internal static Tensor Pack(Parameter[] shapes, Tensor[] tensors)
    {
        long total = shapes.Sum(p => p.numel());
        // Lives as long as its owner, whatever dispose scope the owner was built in.
        var flat = zeros(total, dtype: tensors[0].dtype, device: tensors[0].device).DetachFromDisposeScope();
        long offset = 0;
        for (int i = 0; i < tensors.Length; i++)
        {
            long n = shapes[i].numel();
            using var slice = flat.narrow(0, offset, n).view(shapes[i].shape);
            slice.copy_(tensors[i]);
            tensors[i].set_(slice);
            offset += n;
        }
        return flat;
    }

    /// <summary>Whether every parameter and gradient still lives in the flat buffers (autograd accumulates into them in place).</summary>
    public bool IsIntact()
    {
        long offset = 0, total = Weights.numel();
        foreach (var p in parameters)
        {
            using var g = p.grad;
            if (!IsSliceOf(p, offset, total) || g is null || !IsSliceOf(g, offset, total)) return false;
            offset += p.numel();
        }
        return true;
    }

    /// <summary>A view at <paramref name="offset"/> of a storage of <paramref name="total"/> elements: a slice of a flat buffer.</summary>
    static bool IsSliceOf(Tensor t, long offset, long total)
    {
        if (t.storage_offset() != offset || !t.is_contiguous()) return false;
        using var storage = t.storage<float>();
        return storage.Count == total;
    }

    public void ZeroGrad() => Grads.zero_();

    /// <summary>clip_grad_norm_: scales the gradients so their joint 2-norm is at most <paramref name="maxNorm"/>; returns the norm before.</summary>
    public double ClipGradNorm(double maxNorm)
    {
        using var _ = no_grad();
        using var norm = Grads.norm();
        double total = norm.item<float>();
        double coef = maxNorm / (total + 1e-6);
        if (coef < 1 && double.IsFinite(total)) Grads.TimesInPlace(coef);
        return total;
    }

    /// <summary>One AdamW update of every parameter at learning rate <paramref name="lr"/>.</summary>
    public void Step(double lr)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        StepCount++;
        if (weightDecay != 0) Weights.TimesInPlace(1 - lr * weightDecay);
        double bias1 = 1 - Math.Pow(Beta1, StepCount), bias2 = 1 - Math.Pow(Beta2, StepCount);
        expAvg.mul_(Beta1Scalar).add_(Grads, alpha: OneMinusBeta1);
        expAvgSq.mul_(Beta2Scalar).addcmul_(Grads, Grads, value: OneMinusBeta2);
        var denom = expAvgSq.sqrt().DividedBy(Math.Sqrt(bias2)).PlusInPlace(Eps);
        using var stepSize = (-lr / bias1).ToScalar();
        Weights.addcdiv_(expAvg, denom, value: stepSize);
    }

    /// <summary>The optimiser state in TorchSharp's AdamW format (what snapshots have always held).</summary>
    public void SaveState(BinaryWriter writer, double lr)
    {
        foreach (var s in states) s.step = StepCount;
        foreach (var g in keeper.ParamGroups) g.LearningRate = lr;
        keeper.save_state_dict(writer);
    }

    /// <summary>Reads a state written by <see cref="SaveState"/> (or by TorchSharp's AdamW) into the flat moments.</summary>
    public void LoadState(BinaryReader reader)
    {
        keeper.load_state_dict(reader);
        StepCount = states.Length == 0 ? 0 : states[0].step;
        // Loading copies into the existing moment tensors; a loader that replaced them would leave the flat buffers behind.
        long offset = 0, total = expAvg.numel();
        foreach (var s in states)
        {
            if (!IsSliceOf(s.exp_avg, offset, total) || !IsSliceOf(s.exp_avg_sq, offset, total))
                throw new InvalidOperationException("loading the optimiser state replaced its moment tensors");
            offset += s.exp_avg.numel();
        }
    }

    public void Dispose()
    {
        keeper.Dispose();
        expAvg.Dispose();
        expAvgSq.Dispose();
        Grads.Dispose();
        Weights.Dispose();
    }
}
