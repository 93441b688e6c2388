using System.Diagnostics;
using System.Globalization;
using CadStream.Model;
using CadStream.Model.Runtime;
using CadStream.Model.Training;
using static TorchSharp.torch;

// Benchmarks print their figures; they are not tests. Each figure comes with an anchor measured
// in the same run (a plain matmul), so runs on noisy machines can be compared as ratios.
//   dotnet run -c Release --project bench/CadStream.Bench -- train [--batch 64] [--width 48] [--steps 20] [--warmup 5]
//   dotnet run -c Release --project bench/CadStream.Bench -- stream-train [--width 32] [--batch 64] [--steps 30]
//   dotnet run -c Release --project bench/CadStream.Bench -- demo-train [--width 32] [--batch 64] [--seconds 20] [--threads 0]
//   dotnet run -c Release --project bench/CadStream.Bench -- ingest [--count 10000]
//   dotnet run -c Release --project bench/CadStream.Bench -- serve [--width 32] [--requests 20] [--clients 16]

var opts = ParseArgs(args.Skip(1).ToArray());
var what = args.FirstOrDefault() ?? "train";
var device = TorchRuntime.Initialize();
Console.WriteLine($"# {TorchRuntime.Describe()}, {Environment.ProcessorCount} cores");

switch (what)
{
    case "train":
        TrainThroughput(device, Get("batch", 64), Get("width", 48), Get("steps", 20), Get("warmup", 5));
        break;
    case "stream-train":
        StreamingTrainerBench.Run(device, Get("width", 32), Get("batch", 64), Get("steps", 30));
        break;
    case "demo-train":
        DemoTrainBench.Run(device, Get("width", 32), Get("batch", 64), Get("seconds", 20), Get("threads", 0));
        break;
    case "ingest":
        IngestBench.Run(Get("count", 10_000));
        break;
    case "serve":
        ServingBench.Run(device, Get("width", 32), Get("requests", 20), Get("clients", 16));
        break;
    default:
        Console.Error.WriteLine($"unknown benchmark '{what}'; available: train, stream-train, demo-train, ingest, serve");
        return 2;
}
return 0;

void TrainThroughput(Device dev, int batch, int width, int steps, int warmup)
{
    var anchor = MatmulGflops(dev);
    var config = ModelConfig.FashionMnist(Enumerable.Range(0, 10).Select(i => $"c{i}").ToArray(), TrainingMode.Cad, width);
    using var trainer = new CadTrainer(config, new TrainerOptions { WarmupSteps = 1 }, dev);
    var rng = new Random(0);
    var pixels = new byte[4096 * 784];
    rng.NextBytes(pixels);
    var pairs = new PairSet(pixels, 4096, 1, 28, 28, Enumerable.Range(0, 4096).Select(i => i % 10).ToArray(),
        Enumerable.Range(0, 4096).Select(_ => (float)rng.NextDouble()).ToArray());
    var sampler = new BatchSampler(pairs.Count, batch, 0);
    void Step() { var b = pairs.Batch(sampler.Next(), dev); using (b.Images) trainer.Step(b); }
    for (int i = 0; i < warmup; i++) Step();
    if (dev.type == TorchSharp.DeviceType.CUDA) cuda.synchronize();
    var clock = Stopwatch.StartNew();
    for (int i = 0; i < steps; i++) Step();
    if (dev.type == TorchSharp.DeviceType.CUDA) cuda.synchronize();
    double seconds = clock.Elapsed.TotalSeconds;
    double ips = steps * batch / seconds;
    Console.WriteLine($"model: width {width}, {trainer.Model.ParameterCount() / 1e6:F2}M parameters, batch {batch}, {steps} timed steps after {warmup} warm-up");
    Console.WriteLine($"train_ms_per_step {1000 * seconds / steps:F1}");
    Console.WriteLine($"train_images_per_second {ips:F1}");
    Console.WriteLine($"anchor_matmul_gflops {anchor:F1}");
    Console.WriteLine($"images_per_second_per_anchor_gflop {ips / anchor:F3}");
}

double MatmulGflops(Device dev)
{
    using var a = randn(512, 512, device: dev);
    using var b = randn(512, 512, device: dev);
    for (int i = 0; i < 3; i++) { using var w = a.matmul(b); }
    int reps = dev.type == TorchSharp.DeviceType.CUDA ? 200 : 20;
    var clock = Stopwatch.StartNew();
    for (int i = 0; i < reps; i++) { using var c = a.matmul(b); if (dev.type == TorchSharp.DeviceType.CUDA) cuda.synchronize(); }
    return reps * 2.0 * 512 * 512 * 512 / clock.Elapsed.TotalSeconds / 1e9;
}

int Get(string name, int fallback) => opts.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

static Dictionary<string, string> ParseArgs(string[] a)
{
    var d = new Dictionary<string, string>();
    for (int i = 0; i + 1 < a.Length; i += 2)
    {
        if (!a[i].StartsWith("--")) throw new ArgumentException($"unexpected argument {a[i]}");
        d[a[i][2..]] = a[i + 1];
    }
    return d;
}
