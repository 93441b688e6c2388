using CadStream.Model;
using CadStream.Model.Runtime;

namespace CadStream.Tests.Model;

/// <summary>Small configurations that run in milliseconds on a CPU.</summary>
public static class TestModels
{
    public static readonly string[] TenClasses = ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"];

    public static ModelConfig Tiny(TrainingMode mode = TrainingMode.Cad) => new()
    {
        ClassNames = TenClasses,
        Mode = mode,
        BaseChannels = 16,
        ChannelMultipliers = [1, 2],
        ResBlocksPerLevel = 1,
        PaddedSize = 28,
    };

    public static TorchSharp.torch.Device Cpu => TorchRuntime.Initialize("cpu");
}
