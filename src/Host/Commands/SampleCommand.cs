using System.Diagnostics;
using CadStream.Catalog.Text;
using CadStream.Host.Cli;
using CadStream.Host.Commands.Conditions;
using CadStream.Imaging;
using CadStream.Model;
using CadStream.Model.Networks;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Runtime;
using static TorchSharp.torch;

namespace CadStream.Host.Commands;

/// <summary>`cadstream sample`: a PNG grid from a snapshot file.</summary>
public sealed class SampleCommand : ICommand
{
    public string Name => "sample";
    public string Summary => "Sample images of one class (or one prompt, for a text model) from a snapshot file with coherence-aware guidance; writes a PNG grid.";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("snapshot", "snapshot file (cadstream train --out)", ValueName: "FILE"),
        new("label", "class index or name (e.g. Sneaker); 'all' samples every class, one row each", "all", ValueName: "CLASS"),
        new("prompt", "what to draw (text models; e.g. \"a pair of ankle boots\")", ValueName: "TEXT"),
        new("negative-prompt", "the guidance's second branch for a text model (default: random gibberish for cad, the empty caption otherwise)", ValueName: "TEXT"),
        new("coherence", "coherence in [0, 1] to condition on", "1", ValueName: "C"),
        new("guidance", "guidance rate w >= 0 (default: the snapshot's)", ValueName: "W"),
        new("steps", "denoising steps (1..1000)", "50", ValueName: "N"),
        new("sampler", "ddim | ddpm | dpm++", "ddim", ValueName: "NAME"),
        new("eta", "DDIM eta (0 = deterministic)", "0", ValueName: "E"),
        new("seed", "seed of the initial noise", "0", ValueName: "S"),
        new("threads", "libtorch threads (default: one per core); the same snapshot, settings and thread count give the same PNG on one kind of machine", ValueName: "N"),
        new("count", "images per class (1..64)", "16", ValueName: "N"),
        new("out", "PNG file to write", "samples.png", ValueName: "FILE"),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        var path = a.String("snapshot") ?? throw new UsageException("--snapshot FILE is required (a file written by cadstream train)");
        if (!File.Exists(path)) throw new UsageException($"snapshot file '{path}' does not exist");
        double coherence = a.Double("coherence", 0, 1);
        int steps = a.Int("steps", 1, 1000);
        var sampler = a.Parse("sampler", SamplerKinds.Parse);
        double eta = a.Double("eta", 0, 1);
        long seed = a.Long("seed");
        int count = a.Int("count", 1, 64);
        var outPath = a.RequireString("out");

        CadSnapshot snapshot;
        try { snapshot = CadSnapshot.Load(path); }
        catch (SnapshotFormatException e) { throw new UsageException($"'{path}': {e.Message}"); }
        var spec = snapshot.Spec;
        using var condition = CommandConditions.For(spec.Kind);
        condition.CheckSampleOptions(a, spec);
        double guidance = a.Has("guidance") ? a.Double("guidance", 0, 100) : spec.DefaultGuidance;

        var device = TorchRuntime.Initialize(threads: TrainCommand.Threads(a));
        CadDenoiser model;
        try { model = snapshot.CreateDenoiser(device, condition.EncoderIdentity); }
        catch (TextEncoderMismatchException e) { throw new UsageException($"'{path}': {e.Message}"); }
        using var _ = model;
        var (jobs, what) = condition.SampleJobs(a, spec, count, coherence, guidance, seed);
        var pipeline = new CadPipeline(model, device);
        var line = new ProgressLine();
        var clock = Stopwatch.StartNew();
        var images = pipeline.Sample(jobs, new SamplerSettings(steps, sampler, eta), (s, n) => line.Update($"step {s}/{n}"));
        line.Finish($"sampled {count * jobs.Length} images in {clock.Elapsed.TotalSeconds:F1} s");
        using var all = cat(images, 0);
        foreach (var t in images) t.Dispose();
        File.WriteAllBytes(outPath, ImageGrid.EncodePng(ImageTensors.ToBytes(all), (int)all.shape[0], spec.Channels, spec.ImageSize, spec.ImageSize, columns: count, scale: 2));
        Console.Error.WriteLine($"wrote {outPath}: {what} at coherence {coherence}, guidance {guidance}, {steps} {sampler.Name()} steps, seed {seed} (snapshot step {snapshot.Steps})");
        return 0;
    }
}
