using CadStream.Model;
using CadStream.Model.Networks;
using CadStream.Model.Networks.Conditions;
using CadStream.Model.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CadStream.Tests.Model.Training;

/// <summary>
/// The flat-buffer optimiser is TorchSharp's AdamW and clip_grad_norm_, only faster: same updates, same saved state.
/// Runs alone: its reference step needs collections held off, which another test's forced collection or
/// allocations would end.
/// </summary>
[Collection(FlatAdamWTests.Name)]
[Trait("Category", "Numeric")]
public class FlatAdamWTests
{
    public const string Name = "flat AdamW against TorchSharp's, collections held off";

    static (CadDenoiser Model, Parameter[] Params) Model()
    {
        _ = TestModels.Cpu;
        // Both calls give the same weights: CadDenoiser draws them from its spec's seed.
        var m = new CadDenoiser(TestModels.Tiny() with { Seed = 3 });
        return (m, m.parameters().ToArray());
    }

    /// <summary>One forward and backward on a fixed batch (which differs per step).</summary>
    static void Backward(CadDenoiser model, int step)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator((ulong)(100 + step), CPU);
        var x = randn([4, 1, 28, 28], generator: g);
        var target = randn([4, 1, 28, 28], generator: g);
        var pred = model.call(x, rand(4, generator: g), new Conditioning(rand(4, generator: g), tensor(new long[] { 0, 3, 5, 9 })));
        // Scaled up so that a max norm of 1 clips.
        (pred - target).Squared().mean().Times(1000).backward();
    }

    /// <summary>
    /// Runs TorchSharp's AdamW.step, the reference, with collections held off: it makes Scalars that nothing holds
    /// (CAD002), and one freed by a collection mid-call would be read after its free. Fails when another thread's
    /// allocations forced a collection anyway.
    /// </summary>
    static void WithoutCollections(Action step)
    {
        Assert.True(GC.TryStartNoGCRegion(128L << 20), "could not hold collections off");
        try
        {
            step();
        }
        finally
        {
            bool held = System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.NoGCRegion;
            if (held) GC.EndNoGCRegion();
            Assert.True(held, "a collection ran during TorchSharp's AdamW.step");
        }
    }

    static float[] Values(Parameter[] ps) => ps.SelectMany(p => p.detach().data<float>().ToArray()).ToArray();

    [Theory]
    [InlineData(0.0, 1e9)]   // no clipping, no weight decay: the same element-wise ops, bit for bit
    [InlineData(0.05, 1e9)]  // with weight decay
    [InlineData(0.0, 1.0)]   // clipping active: the norm is summed in another order, so equal to float rounding
    public void Updates_match_torchsharps_adamw_and_clip_grad_norm(double weightDecay, double maxNorm)
    {
        var (refModel, refParams) = Model();
        var (flatModel, flatParams) = Model();
        using var _m1 = refModel;
        using var _m2 = flatModel;
        Assert.Equal(Values(refParams), Values(flatParams));
        using var reference = optim.AdamW(refParams, 1e-3, weight_decay: weightDecay);
        using var flat = new FlatAdamW(flatParams, 1e-3, weightDecay);
        Assert.Equal(Values(refParams), Values(flatParams));   // packing keeps the values

        double lr = 1e-3;
        for (int step = 0; step < 4; step++, lr *= 0.9)
        {
            reference.zero_grad();
            Backward(refModel, step);
            double refNorm = nn.utils.clip_grad_norm_(refParams, maxNorm);
            foreach (var group in reference.ParamGroups) group.LearningRate = lr;
#pragma warning disable CAD002  // TorchSharp's AdamW is the reference; its step runs with collections held off
            WithoutCollections(() => reference.step());
#pragma warning restore CAD002

            flat.ZeroGrad();
            Backward(flatModel, step);
            Assert.True(flat.IsIntact(), "backward left a gradient outside the flat buffer");
            double flatNorm = flat.ClipGradNorm(maxNorm);
            flat.Step(lr);

            Assert.Equal(refNorm, flatNorm, 1e-5 * refNorm);
            if (maxNorm < 10) Assert.True(refNorm > maxNorm, $"the test meant to clip, but the norm is {refNorm}");
        }
        var a = Values(refParams);
        var b = Values(flatParams);
        if (maxNorm > 10) Assert.Equal(a, b);
        else
        {
            double worst = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
            Assert.True(worst < 1e-6, $"largest difference {worst}");
        }
        // The saved state is TorchSharp's format, with the same moments.
        if (maxNorm > 10) Assert.Equal(Bytes(w => reference.save_state_dict(w)), Bytes(w => flat.SaveState(w, lr / 0.9)));
    }

    static byte[] Bytes(Action<BinaryWriter> write)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) write(w);
        return ms.ToArray();
    }

    [Fact]
    public void A_saved_state_loads_into_the_flat_moments_and_the_next_update_matches()
    {
        var (m1, p1) = Model();
        var (m2, p2) = Model();
        using var _m1 = m1;
        using var _m2 = m2;
        using var first = new FlatAdamW(p1, 1e-3, 0);
        for (int step = 0; step < 3; step++) { first.ZeroGrad(); Backward(m1, step); first.ClipGradNorm(1.0); first.Step(1e-3); }
        var state = Bytes(w => first.SaveState(w, 1e-3));

        using var second = new FlatAdamW(p2, 1e-3, 0);
        using (no_grad()) foreach (var (a, b) in p1.Zip(p2)) b.copy_(a);
        using (var reader = new BinaryReader(new MemoryStream(state))) second.LoadState(reader);
        Assert.Equal(3, second.StepCount);
        Assert.Equal(state, Bytes(w => second.SaveState(w, 1e-3)));

        foreach (var (opt, model) in new[] { (first, m1), (second, m2) }) { opt.ZeroGrad(); Backward(model, 9); opt.ClipGradNorm(1.0); opt.Step(1e-3); }
        Assert.Equal(Values(p1), Values(p2));
    }
}

[CollectionDefinition(FlatAdamWTests.Name, DisableParallelization = true)]
public sealed class FlatAdamWAlone;
