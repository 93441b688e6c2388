using CadStream.Model;
using CadStream.Data;
using CadStream.Model.Training;
using static TorchSharp.torch;
using CadStream.Catalog;
using CadStream.Tests.Model;

namespace CadStream.Tests.Serving;

/// <summary>Snapshot bytes of a tiny Fashion-MNIST-shaped model, trained a step or two (made once per test run).</summary>
public static class TinySnapshots
{
    public const string ModelId = "fashion-cad";

    static readonly Lazy<byte[][]> Versions = new(Make);

    /// <summary>Version 1 (one training step), 2 and 3 (two and three steps): different weights, same architecture.</summary>
    public static byte[] V1 => Versions.Value[0];
    public static byte[] V2 => Versions.Value[1];
    public static byte[] V3 => Versions.Value[2];

    public static ModelSpec Spec => TestModels.Tiny() with { Id = ModelId, Classes = FashionMnist.ClassNames.ToArray(), Guidance = 1.0 };

    public static ModelCatalog Catalog => new([TestModels.Fashion(ModelId)]);

    static byte[][] Make()
    {
        using var trainer = new CadTrainer(Spec with { WarmupSteps = 1, EmaDecay = 0.5 }, TestModels.Cpu);
        var result = new byte[3][];
        for (int v = 1; v <= 3; v++)
        {
            using (var g = new Generator((ulong)v, CPU))
            using (var images = rand([8, 1, 28, 28], generator: g).Times(2).Minus(1))
                trainer.Step(new TrainBatch(images, Enumerable.Range(0, 8).Select(i => (long)(i % 10)).ToArray(),
                    Enumerable.Range(0, 8).Select(i => (i % 5) / 4f).ToArray()));
            result[v - 1] = trainer.ToSnapshot(v, includeTrainingState: false).ToBytes();
        }
        return result;
    }
}
