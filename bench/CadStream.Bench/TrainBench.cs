using System.Diagnostics;
using CadStream.Catalog;
using CadStream.Host.Cli;
using CadStream.Model.Training;
using CadStream.Runtime;
using static TorchSharp.torch;

/// <summary>
/// Offline training throughput of the U-Net (random pairs of Fashion-MNIST's shape), next to a matmul anchor of
/// the same run; with --compare-pytorch, against the PyTorch mirror of the same step (bench/pytorch/) in the
/// same run, rounds alternating between the two so that a busy machine slows both alike.
/// </summary>
sealed class TrainBench : ICommand
{
    public string Name => "train";
    public string Summary => "Training ms/step of the U-Net, with a matmul anchor; --compare-pytorch: against PyTorch on the same model.";
    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("batch", "batch size", "64", ValueName: "B"),
        new("width", "U-Net base channels", "48", ValueName: "C"),
        new("size", "image side in px, 16..128 (default: Fashion-MNIST's 28); over 64 gets a fourth U-Net level", ValueName: "PX"),
        new("channels", "image channels, 1 or 3 (default: Fashion-MNIST's 1)", ValueName: "C"),
        new("steps", "timed steps (per round with --compare-pytorch)", "20", ValueName: "N"),
        new("warmup", "untimed steps first", "5", ValueName: "N"),
        new("threads", "intra-op threads of both sides (default: the cores)", ValueName: "N"),
        new("compare-pytorch", "also time the PyTorch mirror (bench/pytorch/train_step.py) and print the ratio", IsFlag: true),
        new("rounds", "alternating rounds of --steps steps per side (--compare-pytorch)", "3", ValueName: "N"),
        new("profile", "one more round per side that times each phase of the step (data, forward, backward, clip, optimizer, ema)", IsFlag: true),
        new("python", "python with torch (default: python3, else /usr/bin/python3)", ValueName: "EXE"),
        new("mirror", "the mirror script (default: bench/pytorch/train_step.py above the working directory)", ValueName: "FILE"),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        int batch = a.Int("batch", 1), width = a.Int("width", 8), steps = a.Int("steps", 1), warmup = a.Int("warmup", 0);
        int threads = a.Has("threads") ? a.Int("threads", 1, 1024) : Environment.ProcessorCount;
        bool compare = a.Flag("compare-pytorch"), profile = a.Flag("profile");
        int rounds = compare ? a.Int("rounds", 1, 1000) : 1;
        string? python = compare ? PyTorchMirror.FindPython(a.String("python")) : null;
        string? script = compare ? PyTorchMirror.FindScript(a.String("mirror")) : null;

        var device = Bench.Start(threads);
        var anchor = Bench.MatmulGflops(device);
        var spec = Bench.Spec("bench", width) with { WarmupSteps = 1, Batch = batch };
        if (a.Has("size") || a.Has("channels"))
        {
            if (compare) throw new ArgumentException("--size and --channels do not apply to --compare-pytorch (its mirror is Fashion-MNIST's shape)");
            int side = a.Has("size") ? a.Int("size", 16, ModelSpec.MaxImageSize) : spec.ImageSize;
            spec = spec with
            {
                ImageSize = side, PaddedSize = 0, Channels = a.Has("channels") ? a.Int("channels", 1, 3) : spec.Channels,
                // A fourth level keeps the middle's self-attention at 8 x 8 instead of 16 x 16 (four times the tokens).
                ChannelMultipliers = side > 64 ? [1, 2, 2, 2] : spec.ChannelMultipliers,
            };
            spec.Validate();
        }
        using var trainer = new CadTrainer(spec, device);
        var pairs = Bench.RandomPairs(4096, spec);
        var sampler = new BatchSampler(pairs.Count, batch, 0);
        void Step() { var b = pairs.Batch(sampler.Next(), device); using (b.Images) trainer.Step(b); }
        double lastCpuMs = 0;
        double TimeSteps(int n)
        {
            Bench.Synchronize(device);
            var self = Process.GetCurrentProcess();
            var cpu = self.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < n; i++) Step();
            Bench.Synchronize(device);
            self.Refresh();
            lastCpuMs = (self.TotalProcessorTime - cpu).TotalMilliseconds / n;
            return 1000 * clock.Elapsed.TotalSeconds / n;
        }
        long parameters = trainer.Model.ParameterCount();
        Console.WriteLine($"model: width {width}, {parameters} parameters ({parameters / 1e6:F2}M), batch {batch}, image {spec.Channels}x{spec.ImageSize}x{spec.ImageSize} (U-Net {spec.UNetSize}/{spec.PatchSize}), mode {spec.Mode.Name()}");

        using var mirror = compare ? PyTorchMirror.Start(python!, script!, spec, threads, device.type == TorchSharp.DeviceType.CUDA ? "cuda" : "cpu") : null;
        if (mirror is not null)
        {
            Console.WriteLine($"# pytorch: {python} {script}: torch {mirror.TorchVersion}, threads {mirror.Threads}, device {mirror.Header["device"]}");
            Console.WriteLine($"torchsharp_parameters {parameters}");
            Console.WriteLine($"pytorch_parameters {mirror.Parameters}");
            if (mirror.Parameters != parameters)
            {
                var ours = string.Join(", ", trainer.Model.named_children().Select(c => $"{c.name} {c.module.parameters().Sum(p => p.numel())}"));
                Console.Error.WriteLine($"the PyTorch mirror is not the same model: {mirror.Parameters} parameters against TorchSharp's {parameters} " +
                                        $"(TorchSharp: {ours}; PyTorch: {mirror.Header["parameters_by_part"]?.ToJsonString()})");
                return 1;
            }
            if (mirror.Threads != threads)
            {
                Console.Error.WriteLine($"the PyTorch mirror runs {mirror.Threads} threads, TorchSharp {threads}: not comparable");
                return 1;
            }
        }

        for (int i = 0; i < warmup; i++) Step();
        if (mirror is not null && warmup > 0) mirror.Run(warmup);

        if (mirror is null)
        {
            double ms = TimeSteps(steps);
            double ips = batch * 1000 / ms;
            Console.WriteLine($"train_ms_per_step {ms:F1}");
            Console.WriteLine($"train_images_per_second {ips:F1}");
            Console.WriteLine($"anchor_matmul_gflops {anchor:F1}");
            Console.WriteLine($"images_per_second_per_anchor_gflop {ips / anchor:F3}");
        }
        else
        {
            // A/B, then B/A: whichever side runs first in a round does not always meet the same load.
            // CPU time (all threads) per step as well: on a machine that others load, it moves less than wall time.
            var ours = new List<(double Wall, double Cpu)>();
            var theirs = new List<(double Wall, double Cpu)>();
            (double, double) Ours() => (TimeSteps(steps), lastCpuMs);
            (double, double) Theirs() { var r = mirror.Run(steps); return (r["ms_per_step"]!.GetValue<double>(), r["cpu_ms_per_step"]!.GetValue<double>()); }
            for (int r = 0; r < rounds && !cancel.IsCancellationRequested; r++)
            {
                if (r % 2 == 0) { ours.Add(Ours()); theirs.Add(Theirs()); }
                else { theirs.Add(Theirs()); ours.Add(Ours()); }
                Console.WriteLine($"round {r + 1}: torchsharp {ours[^1].Wall:F1} ms/step ({ours[^1].Cpu:F0} CPU ms), " +
                                  $"pytorch {theirs[^1].Wall:F1} ms/step ({theirs[^1].Cpu:F0} CPU ms), ratio {ours[^1].Wall / theirs[^1].Wall:F3}");
            }
            double a1 = Median(ours.Select(o => o.Wall)), b1 = Median(theirs.Select(o => o.Wall));
            double a2 = Median(ours.Select(o => o.Cpu)), b2 = Median(theirs.Select(o => o.Cpu));
            Console.WriteLine($"torchsharp_ms_per_step {a1:F1}");
            Console.WriteLine($"pytorch_ms_per_step {b1:F1}");
            Console.WriteLine($"ratio_torchsharp_over_pytorch {a1 / b1:F3}");
            Console.WriteLine($"ratio_per_round_median {Median(ours.Zip(theirs, (x, y) => x.Wall / y.Wall)):F3}");
            Console.WriteLine($"torchsharp_cpu_ms_per_step {a2:F1}");
            Console.WriteLine($"pytorch_cpu_ms_per_step {b2:F1}");
            Console.WriteLine($"cpu_ratio_torchsharp_over_pytorch {a2 / b2:F3}");
            Console.WriteLine($"anchor_matmul_gflops {anchor:F1}");
        }

        if (profile)
        {
            var timer = new StepPhaseTimer(device.type == TorchSharp.DeviceType.CUDA ? () => cuda.synchronize() : null);
            trainer.PhaseTimer = timer;
            double total = TimeSteps(steps);
            trainer.PhaseTimer = null;
            PrintPhases("torchsharp", timer.MillisecondsPerStep(), total);
            if (mirror is not null)
            {
                var answer = mirror.Run(steps, profile: true);
                var phases = answer["phases_ms"]!.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<double>());
                PrintPhases("pytorch", phases, answer["ms_per_step"]!.GetValue<double>());
            }
        }
        return 0;
    }

    static void PrintPhases(string side, IReadOnlyDictionary<string, double> phases, double total)
    {
        foreach (var (phase, ms) in phases) Console.WriteLine($"{side}_{phase}_ms {ms:F1}");
        // What the phases do not cover: building the batch outside the step, and disposal after it.
        Console.WriteLine($"{side}_outside_step_ms {total - phases.Values.Sum():F1}");
    }

    static double Median(IEnumerable<double> xs)
    {
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}

/// <summary>What the benches share: the runtime, the anchor, a Fashion-shaped spec, random pairs.</summary>
static class Bench
{
    public static Device Start(int? threads = null)
    {
        var device = TorchRuntime.Initialize(threads: threads);
        Console.WriteLine($"# {TorchRuntime.Describe()}, {Environment.ProcessorCount} cores");
        return device;
    }

    /// <summary>A model of Fashion-MNIST's shape and classes.</summary>
    public static ModelSpec Spec(string id, int width) =>
        CadStream.Host.Configuration.CadStreamSettings.Complete(new ModelSpec { Id = id, Dataset = CadStream.Data.FashionMnist.DatasetName, Width = width });

    public static PairSet RandomPairs(int count, ModelSpec spec, int seed = 0) =>
        CadStream.Data.FashionPairs.Random(count, spec.Channels, spec.ImageSize, spec.NumClasses, seed);

    /// <summary>Pairs <paramref name="from"/> .. from + count - 1 as a scorer hands them to a trainer.</summary>
    public static CadStream.Actors.Training.ScoredPair[] Scored(PairSet pairs, int from, int count) =>
        Enumerable.Range(from, count).Select(i => new CadStream.Actors.Training.ScoredPair($"bench-{i}",
            pairs.Pixels.AsSpan(i * pairs.ImageBytes, pairs.ImageBytes).ToArray(), pairs.Labels[i], pairs.Coherence[i])).ToArray();

    public static void Synchronize(Device device)
    {
        if (device.type == TorchSharp.DeviceType.CUDA) cuda.synchronize();
    }

    public static double MatmulGflops(Device dev)
    {
        // Its own generator: torch's global one belongs to TorchRandom's lock (the values do not matter here).
        using var g = new Generator(0, dev);
        using var a = randn([512, 512], generator: g, device: dev);
        using var b = randn([512, 512], generator: g, device: dev);
        for (int i = 0; i < 3; i++) { using var w = a.matmul(b); }
        int reps = dev.type == TorchSharp.DeviceType.CUDA ? 200 : 20;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < reps; i++) { using var c = a.matmul(b); if (dev.type == TorchSharp.DeviceType.CUDA) cuda.synchronize(); }
        return reps * 2.0 * 512 * 512 * 512 / clock.Elapsed.TotalSeconds / 1e9;
    }
}
