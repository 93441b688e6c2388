using System.Diagnostics;
using CadStream.Host.Cli;
using CadStream.Model;
using CadStream.Model.Training;
using CadStream.Runtime;
using static TorchSharp.torch;

/// <summary>Offline training throughput of the U-Net (random 28x28 pairs), next to a matmul anchor of the same run.</summary>
sealed class TrainBench : ICommand
{
    public string Name => "train";
    public string Summary => "Training steps/s of the U-Net, with a matmul GFLOP/s anchor.";
    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("batch", "batch size", "64", ValueName: "B"),
        new("width", "U-Net base channels", "48", ValueName: "C"),
        new("steps", "timed steps", "20", ValueName: "N"),
        new("warmup", "untimed steps first", "5", ValueName: "N"),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        var device = Bench.Start();
        int batch = a.Int("batch", 1), width = a.Int("width", 8), steps = a.Int("steps", 1), warmup = a.Int("warmup", 0);
        var anchor = Bench.MatmulGflops(device);
        var spec = Bench.Spec("bench", width) with { WarmupSteps = 1, Batch = batch };
        using var trainer = new CadTrainer(spec, device);
        var pairs = Bench.RandomPairs(4096, spec);
        var sampler = new BatchSampler(pairs.Count, batch, 0);
        void Step() { var b = pairs.Batch(sampler.Next(), device); using (b.Images) trainer.Step(b); }
        for (int i = 0; i < warmup; i++) Step();
        if (device.type == TorchSharp.DeviceType.CUDA) cuda.synchronize();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++) Step();
        if (device.type == TorchSharp.DeviceType.CUDA) cuda.synchronize();
        double seconds = clock.Elapsed.TotalSeconds;
        double ips = steps * batch / seconds;
        Console.WriteLine($"model: width {width}, {trainer.Model.ParameterCount() / 1e6:F2}M parameters, batch {batch}, {steps} timed steps after {warmup} warm-up");
        Console.WriteLine($"train_ms_per_step {1000 * seconds / steps:F1}");
        Console.WriteLine($"train_images_per_second {ips:F1}");
        Console.WriteLine($"anchor_matmul_gflops {anchor:F1}");
        Console.WriteLine($"images_per_second_per_anchor_gflop {ips / anchor:F3}");
        return 0;
    }
}

/// <summary>What the benches share: the runtime, the anchor, a Fashion-shaped spec, random pairs.</summary>
static class Bench
{
    public static Device Start()
    {
        var device = TorchRuntime.Initialize();
        Console.WriteLine($"# {TorchRuntime.Describe()}, {Environment.ProcessorCount} cores");
        return device;
    }

    /// <summary>A model of Fashion-MNIST's shape and classes.</summary>
    public static ModelSpec Spec(string id, int width) =>
        CadStream.Host.Configuration.CadStreamSettings.Complete(new ModelSpec { Id = id, Dataset = CadStream.Data.FashionMnist.DatasetName, Width = width });

    public static PairSet RandomPairs(int count, ModelSpec spec, int seed = 0)
    {
        var rng = new Random(seed);
        var pixels = new byte[count * spec.ImageBytes];
        rng.NextBytes(pixels);
        return new PairSet(pixels, count, spec.Channels, spec.ImageSize, spec.ImageSize,
            Enumerable.Range(0, count).Select(i => i % spec.NumClasses).ToArray(),
            Enumerable.Range(0, count).Select(_ => (float)rng.NextDouble()).ToArray());
    }

    public static double MatmulGflops(Device dev)
    {
        using var a = randn(512, 512, device: dev);
        using var b = randn(512, 512, device: dev);
        for (int i = 0; i < 3; i++) { using var w = a.matmul(b); }
        int reps = dev.type == TorchSharp.DeviceType.CUDA ? 200 : 20;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < reps; i++) { using var c = a.matmul(b); if (dev.type == TorchSharp.DeviceType.CUDA) cuda.synchronize(); }
        return reps * 2.0 * 512 * 512 * 512 / clock.Elapsed.TotalSeconds / 1e9;
    }
}
