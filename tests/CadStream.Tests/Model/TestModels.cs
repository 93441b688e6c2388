using CadStream.Runtime;
using CadStream.Catalog;

namespace CadStream.Tests.Model;

/// <summary>Small configurations that run in milliseconds on a CPU.</summary>
public static class TestModels
{
    public static readonly string[] TenClasses = ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"];

    public static ModelSpec Tiny(TrainingMode mode = TrainingMode.Cad) => new()
    {
        Id = "tiny",
        Classes = TenClasses,
        Channels = 1,
        ImageSize = 28,
        Mode = mode,
        Width = 16,
        ChannelMultipliers = [1, 2],
        ResBlocksPerLevel = 1,
        PaddedSize = 28,
    };

    public static TorchSharp.torch.Device Cpu => TorchRuntime.Initialize("cpu");

    /// <summary>
    /// libtorch threads of the tests that train or compare outputs (<see cref="TorchRuntime.WithThreads{T}"/>):
    /// some ops' last bits depend on the thread count, and a test thread otherwise gets whatever count the
    /// process or another test left. Fixed, not the machine's cores, so a figure is the same on any core count.
    /// </summary>
    public const int Threads = 2;

    /// <summary>Runs <paramref name="body"/> with <see cref="Threads"/> libtorch threads on this thread.</summary>
    public static T Pinned<T>(Func<T> body) => TorchRuntime.WithThreads(Threads, body);

    /// <inheritdoc cref="Pinned{T}"/>
    public static void Pinned(Action body) => TorchRuntime.WithThreads(Threads, () => { body(); return 0; });

    /// <summary>A tiny text-conditioned model: no classes, cross-attention at the 7x7 level (its lowest).</summary>
    public static ModelSpec TinyText(TrainingMode mode = TrainingMode.Cad) =>
        Tiny(mode) with { Kind = ConditionKind.Text, Classes = [], CrossAttentionResolutions = [7] };

    /// <summary>Every parameter of a module in one array, to compare two modules' weights.</summary>
    public static float[] Flat(TorchSharp.torch.nn.Module m) => m.parameters().SelectMany(p => p.detach().cpu().data<float>().ToArray()).ToArray();

    /// <summary>A model of Fashion-MNIST's classes and shape, as the configuration's <c>"Dataset": "fashion-mnist"</c> gives it.</summary>
    public static ModelSpec Fashion(string id) => CadStream.Host.Configuration.CadStreamSettings.Complete(new ModelSpec { Id = id, Dataset = "fashion-mnist" });

    /// <summary>A text model of Fashion-MNIST's shape, as a configuration's text model entry gives it.</summary>
    public static ModelSpec FashionText(string id) => Fashion(id) with { Kind = ConditionKind.Text };
}
