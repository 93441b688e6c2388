using CadStream.Catalog;
using CadStream.Model;
using CadStream.Model.Networks;
using CadStream.Model.Networks.Conditions;
using CadStream.Model.Training;
using CadStream.Snapshots.Redis;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CadStream.Tests.Model.Training;

[Trait("Category", "Numeric")]
public class TrainerAndSnapshotTests
{
    static TrainBatch RandomBatch(int n, int seed, float[]? coherence = null)
    {
        using var g = new Generator((ulong)seed, CPU);
        var images = rand([n, 1, 28, 28], generator: g).Times(2).Minus(1);
        return new TrainBatch(images, Enumerable.Range(0, n).Select(i => (long)(i % 10)).ToArray(),
            coherence ?? Enumerable.Range(0, n).Select(i => (i % 5) / 4f).ToArray());
    }

    [Fact]
    public void GroupNorm_parameters_start_at_one_and_zero()
    {
        _ = TestModels.Cpu;
        // Fill the allocator with garbage first: uninitialised (torch.empty) parameters would pick it up.
        for (int i = 0; i < 5; i++) { using var junk = TensorMath.Full(100_000, float.NaN, ScalarType.Float32); }
        using var model = new CadDenoiser(TestModels.Tiny());
        var norms = model.modules().OfType<GroupNorm>().ToArray();
        Assert.NotEmpty(norms);
        foreach (var n in norms)
        {
            Assert.True(n.weight!.Equals(ones_like(n.weight!)), "GroupNorm weight not initialised to 1");
            Assert.True(n.bias!.Equals(zeros_like(n.bias!)), "GroupNorm bias not initialised to 0");
        }
        var batch = RandomBatch(4, 1);
        using var eps = model.Predict(batch.Images, TensorMath.Full(4, 0.5f, ScalarType.Float32), new Conditioning(ones(4), tensor(batch.Labels)));
        Assert.True(eps.isfinite().all().item<bool>());
    }

    [Fact]
    public void NaN_batch_is_skipped_and_weights_untouched()
    {
        using var trainer = new CadTrainer(TestModels.Tiny() with { WarmupSteps = 1 }, TestModels.Cpu);
        Assert.True(trainer.Step(RandomBatch(8, 1)).Applied);
        var before = TestModels.Flat(trainer.Model);
        var emaBefore = TestModels.Flat(trainer.Ema);
        var bad = RandomBatch(8, 2);
        bad.Images[3, 0, 5, 5] = tensor(float.NaN);
        var result = trainer.Step(bad);
        Assert.False(result.Applied);
        Assert.Equal("non-finite loss", result.SkipReason);
        Assert.Equal(1, trainer.SkippedSteps);
        Assert.Equal(1, trainer.Steps);
        Assert.Equal(before, TestModels.Flat(trainer.Model));
        Assert.Equal(emaBefore, TestModels.Flat(trainer.Ema));
        Assert.True(trainer.Step(RandomBatch(8, 3)).Applied);
        Assert.All(TestModels.Flat(trainer.Model), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Filtered_mode_drops_low_coherence_pairs()
    {
        using var trainer = new CadTrainer(TestModels.Tiny(TrainingMode.Filtered), TestModels.Cpu);
        var r = trainer.Step(RandomBatch(4, 1, [0.2f, 0.9f, 0.5f, 0.51f]));
        Assert.True(r.Applied);
        Assert.Equal(2, r.SamplesUsed);  // 0.5 is dropped: c <= threshold
        var none = trainer.Step(RandomBatch(2, 1, [0.1f, 0.3f]));
        Assert.False(none.Applied);
        Assert.Equal(6, trainer.SamplesSeen);
    }

    [Fact]
    public void Snapshot_round_trip_is_bit_exact()
    {
        using var trainer = new CadTrainer(TestModels.Tiny(), TestModels.Cpu);
        for (int i = 0; i < 2; i++) trainer.Step(RandomBatch(4, i));
        var snap = trainer.ToSnapshot(version: 7, includeTrainingState: true);
        var bytes = snap.ToBytes();
        var back = CadSnapshot.FromBytes(bytes);
        Assert.Equal(bytes, back.ToBytes());
        Assert.Equal(7, back.Version);
        Assert.Equal(2, back.Steps);
        Assert.Equal(8, back.SamplesSeen);
        Assert.Equal(snap.Spec.ChannelMultipliers, back.Spec.ChannelMultipliers);

        using var model = back.CreateDenoiser(TestModels.Cpu);
        Assert.Equal(TestModels.Flat(trainer.Ema), TestModels.Flat(model));

        // Resuming restores weights, optimiser state and counters: the next step matches.
        using var resumed = CadTrainer.FromSnapshot(back, TestModels.Cpu);
        Assert.Equal(TestModels.Flat(trainer.Model), TestModels.Flat(resumed.Model));
        Assert.Equal(2, resumed.Steps);
        Assert.Equal(8, resumed.SamplesSeen);
        Assert.Equal(snap.OptimizerState, resumed.ToSnapshot(version: 8, includeTrainingState: true).OptimizerState);

        // Loading wrote into the trainer's flat buffers, not beside them: the next step moves the network and its EMA.
        var (weights, ema) = (TestModels.Flat(resumed.Model), TestModels.Flat(resumed.Ema));
        Assert.True(resumed.Step(RandomBatch(4, 5)).Applied);
        Assert.NotEqual(weights, TestModels.Flat(resumed.Model));
        Assert.NotEqual(ema, TestModels.Flat(resumed.Ema));
        Assert.NotEqual(snap.EmaWeights, resumed.ToSnapshot(version: 9, includeTrainingState: false).EmaWeights);
    }

    [Fact]
    public void Corrupted_snapshot_is_a_clear_error()
    {
        using var trainer = new CadTrainer(TestModels.Tiny(), TestModels.Cpu);
        var bytes = trainer.ToSnapshot(1, includeTrainingState: false).ToBytes();
        var flipped = (byte[])bytes.Clone();
        flipped[bytes.Length / 2] ^= 0x40;
        Assert.Contains("checksum", Assert.Throws<SnapshotFormatException>(() => CadSnapshot.FromBytes(flipped)).Message);
        Assert.Throws<SnapshotFormatException>(() => CadSnapshot.FromBytes(bytes[..(bytes.Length - 10)]));
        var notSnap = "hello, this is not a snapshot at all......................"u8.ToArray();
        Assert.Contains("not a CadStream snapshot", Assert.Throws<SnapshotFormatException>(() => CadSnapshot.FromBytes(notSnap)).Message);
    }

    [Fact]
    public void Snapshot_file_save_and_load()
    {
        using var trainer = new CadTrainer(TestModels.Tiny(), TestModels.Cpu);
        var path = Path.Combine(Path.GetTempPath(), $"cad-{Guid.NewGuid():N}.cadsnap");
        try
        {
            var snap = trainer.ToSnapshot(3, includeTrainingState: false);
            snap.Save(path);
            Assert.Equal(snap.ToBytes(), CadSnapshot.Load(path).ToBytes());
        }
        finally { File.Delete(path); }
        Assert.Throws<FileNotFoundException>(() => CadSnapshot.Load(path));
    }
}
