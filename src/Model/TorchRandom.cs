using TorchSharp;
using static TorchSharp.torch;

namespace CadStream.Model;

/// <summary>
/// torch's default generator is one per process: every module's default initialisation draws from it (as
/// do nn.Dropout and rand/randn without a generator), so a thread that draws while another seeds and builds
/// a network changes that network's weights (seen: 8 constructions of 10 got other weights next to a thread
/// drawing randn). The rule in CadStream: code that draws from the global generator does so inside
/// <see cref="Seeded"/>, which holds one process-wide lock and seeds it first; everything else draws from a
/// <see cref="Generator"/> of its own. A network built with a seed then gets the same weights whatever other
/// threads do. docs/reproducibility.md.
/// </summary>
public static class TorchRandom
{
    static readonly object Gate = new();

    /// <summary>
    /// Takes the lock on torch's global generator (re-entrant on this thread) and seeds it with
    /// <paramref name="seed"/> (the CPU one: networks are built on the CPU, then moved); disposing releases
    /// the lock. Keep the section short and free of awaits (the lock belongs to the thread).
    /// </summary>
    public static Section Seeded(long seed)
    {
        Monitor.Enter(Gate);
        try
        {
            using var _ = random.manual_seed(seed);
        }
        catch
        {
            Monitor.Exit(Gate);
            throw;
        }
        return new Section();
    }

    /// <summary>The lock of <see cref="Seeded"/>, held until disposed.</summary>
    public readonly struct Section : IDisposable
    {
        public void Dispose() => Monitor.Exit(Gate);
    }
}

/// <summary>
/// Inverted dropout whose masks come from a generator of its own, seeded once (nn.Dropout draws from torch's
/// global generator, which other threads share). One instance per network, shared by its layers so that they
/// draw from one stream; a generator per device, made when first used there.
/// </summary>
public sealed class DropoutNoise(long seed) : IDisposable
{
    private readonly Dictionary<(DeviceType, int), Generator> generators = new();

    /// <summary>x with each element zeroed with probability <paramref name="rate"/> and the rest scaled by 1 / (1 - rate); x itself (an alias) when not training or at rate 0.</summary>
    public Tensor Apply(Tensor x, double rate, bool training)
    {
        if (!training || rate <= 0) return x.alias();
        if (rate >= 1) return zeros_like(x);
        var device = x.device;
        if (!generators.TryGetValue((device.type, device.index), out var generator))
            generators[(device.type, device.index)] = generator = new Generator((ulong)seed, device);
        using var keep = empty_like(x).bernoulli_(1 - rate, generator);
        using var scale = (1 / (1 - rate)).ToScalar();
        return x.mul(keep).mul_(scale);
    }

    public void Dispose()
    {
        foreach (var g in generators.Values) g.Dispose();
        generators.Clear();
    }
}

/// <summary>
/// nn.Dropout with its masks from a <see cref="DropoutNoise"/> (the owning network's). With no noise set it
/// refuses to draw rather than fall back to torch's global generator; at rate 0 or in eval mode it draws nothing.
/// </summary>
public sealed class SeededDropout(double rate) : nn.Module<Tensor, Tensor>(nameof(SeededDropout))
{
    public double Rate { get; } = rate;
    public DropoutNoise? Noise { get; set; }

    public override Tensor forward(Tensor x)
    {
        if (!training || Rate <= 0) return x.alias();
        var noise = Noise ?? throw new InvalidOperationException("dropout in training needs its network's DropoutNoise: torch's global generator is shared by every thread");
        return noise.Apply(x, Rate, training);
    }
}
