using CadStream.Catalog;
using CadStream.Model;
using CadStream.Model.Training;
using static TorchSharp.torch;

namespace CadStream.Tests.Model.Training;

/// <summary>Models up to 128 px: a U-Net level more keeps the middle's attention small; a snapshot carries them.</summary>
[Trait("Category", "Numeric")]
public sealed class LargeImageTests
{
    static ModelSpec Rgb128() => TestModels.Tiny() with
    {
        Id = "rgb128", Classes = ["red", "blue"], Channels = 3, ImageSize = ModelSpec.MaxImageSize, PaddedSize = 0,
        Width = 8, ChannelMultipliers = [1, 2, 2, 2], Batch = 2, WarmupSteps = 1, Resize = ResizePolicyNames.Pad,
    };

    [Fact]
    public void The_image_size_goes_up_to_128_px_and_Resize_is_one_of_its_names()
    {
        var spec = Rgb128();
        spec.Validate();
        Assert.Equal(128, spec.UNetSize);
        Assert.Equal([64, 32, 16, 8], spec.LevelSides);
        Assert.Contains("ImageSize must be in 16..128", Assert.Throws<ArgumentException>(() => (spec with { ImageSize = 130 }).Validate()).Message);
        Assert.Equal("model rgb128: unknown Resize 'letterbox'; expected center-crop, pad or stretch",
            Assert.Throws<ArgumentException>(() => (spec with { Resize = "letterbox" }).Validate()).Message);
        Assert.Equal(ResizePolicyNames.CenterCrop, new ModelSpec().Resize);
    }

    [Fact]
    public void A_128_px_rgb_model_trains_a_step_and_its_snapshot_rebuilds_it()
    {
        TestModels.Pinned(() =>
        {
            using var trainer = new CadTrainer(Rgb128(), TestModels.Cpu);
            using var g = new Generator(5, CPU);
            var images = rand([2, 3, 128, 128], generator: g).Times(2).Minus(1);
            Assert.True(trainer.Step(new TrainBatch(images, [0, 1], [1f, 0.5f])).Applied);
            var back = CadSnapshot.FromBytes(trainer.ToSnapshot(version: 1, includeTrainingState: false).ToBytes());
            Assert.Equal((3, 128, ResizePolicyNames.Pad), (back.Spec.Channels, back.Spec.ImageSize, back.Spec.Resize));
            using var model = back.CreateDenoiser(TestModels.Cpu);
            Assert.Equal(TestModels.Flat(trainer.Ema), TestModels.Flat(model));
        });
    }
}
