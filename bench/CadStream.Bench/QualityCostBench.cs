using System.Diagnostics;
using CadStream.Host.Cli;
using CadStream.Model;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Model.Training;
using CadStream.Catalog;

/// <summary>
/// What a live sample quality reading costs the trainers beside it: the CPU of one reading of a CAD model
/// (c = 1 at w = 3 with CA-CFG, and c = 0 unguided) and of a baseline model (c = 1, classic CFG), counted in
/// training steps of the demo's model (batch 64) on one libtorch thread, as a trainer runs. Steps and
/// readings alternate in one process, so a busy machine slows both alike: the figures are ratios.
/// </summary>
sealed class QualityCostBench : ICommand
{
    public string Name => "quality-cost";
    public string Summary => "CPU of a live sample quality reading, in training steps (the anchor), for readings of several sizes.";
    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("width", "U-Net base channels", "32", ValueName: "C"),
        new("batch", "training batch", "64", ValueName: "B"),
        new("rounds", "rounds of steps and readings", "3", ValueName: "N"),
        new("threads", "libtorch threads (a demo trainer has 1)", "1", ValueName: "N"),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        int threads = a.Int("threads", 1);
        var device = Bench.Start(threads);
        int width = a.Int("width", 8), batch = a.Int("batch", 2), rounds = a.Int("rounds", 1);
        var cad = Bench.Spec("cad", width) with { Mode = TrainingMode.Cad, Guidance = 3, Batch = batch };
        var baseline = cad with { Id = "baseline", Mode = TrainingMode.Baseline };
        using var trainer = new CadTrainer(cad, device);
        var pairs = Bench.RandomPairs(batch, cad);
        var all = Enumerable.Range(0, batch).ToArray();
        var pipelines = new[] { cad, baseline }.ToDictionary(s => s.Mode, s =>
        {
            var snapshot = CadSnapshot.FromBytes(new CadTrainer(s, device).ToSnapshot(1, includeTrainingState: false).ToBytes());
            return new CadPipeline(snapshot.CreateDenoiser(device), device);
        });
        // (per class, DDIM steps): the old reading and the new one.
        (int PerClass, int Steps)[] readings = [(2, 20), (10, 20), (10, 10)];

        double Cpu() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        double Step(int n)
        {
            double start = Cpu();
            for (int i = 0; i < n; i++)
                using (var b = pairs.Batch(all, device)) trainer.Step(b);
            return (Cpu() - start) / n;
        }
        double Reading(TrainingMode mode, int perClass, int steps)
        {
            var pipeline = pipelines[mode];
            var sampler = new SamplerSettings(steps);
            double start = Cpu();
            // As the quality monitor asks: one request per class, batched up to 64 images a call (Serving:MaxBatchImages).
            void Run(double c, double w)
            {
                var requests = Enumerable.Range(0, 10).Select(k => new SampleRequest(k, perClass, c, w, 1000 + k)).ToList();
                for (int i = 0; i < requests.Count;)
                {
                    int take = 0, n = 0;
                    while (i + take < requests.Count && (take == 0 || n + requests[i + take].Count <= 64)) n += requests[i + take++].Count;
                    foreach (var t in pipeline.Sample(requests.GetRange(i, take), sampler)) t.Dispose();
                    i += take;
                }
            }
            Run(1, 3);
            if (mode == TrainingMode.Cad) Run(0, 0);
            return Cpu() - start;
        }

        Step(3);
        foreach (var (p, s) in readings) { Reading(TrainingMode.Cad, p, s); Reading(TrainingMode.Baseline, p, s); }
        var stepCpu = new List<double>();
        var cost = readings.ToDictionary(r => r, _ => (Cad: new List<double>(), Baseline: new List<double>()));
        for (int r = 0; r < rounds; r++)
            foreach (var reading in readings)
            {
                stepCpu.Add(Step(10));
                cost[reading].Cad.Add(Reading(TrainingMode.Cad, reading.PerClass, reading.Steps));
                cost[reading].Baseline.Add(Reading(TrainingMode.Baseline, reading.PerClass, reading.Steps));
            }
        double step = stepCpu.Average();
        Console.WriteLine($"model: width {width}, batch {batch}, {threads} libtorch thread(s), {rounds} rounds; CPU seconds of the process");
        Console.WriteLine($"train_step_cpu_seconds {step:F3} (anchor; {stepCpu.Min():F3}..{stepCpu.Max():F3})");
        foreach (var ((perClass, steps), (c, b)) in cost)
            Console.WriteLine($"reading {perClass * 10} images, {steps} DDIM steps: cad {c.Average():F2} s = {c.Average() / step:F1} steps, " +
                              $"baseline {b.Average():F2} s = {b.Average() / step:F1} steps");
        return 0;
    }
}
