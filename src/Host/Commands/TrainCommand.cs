using System.Diagnostics;
using CadStream.Catalog;
using CadStream.Data;
using CadStream.Host.Cli;
using CadStream.Host.Commands.Conditions;
using CadStream.Host.Configuration;
using CadStream.Model;
using CadStream.Model.Training;
using CadStream.Runtime;

namespace CadStream.Host.Commands;

/// <summary>`cadstream train`: the offline loop on label-noised Fashion-MNIST, writing a snapshot.</summary>
public sealed class TrainCommand : ICommand
{
    public string Name => "train";
    public string Summary => "Train a CAD model offline on Fashion-MNIST with synthetic label noise (no Kafka) and write a snapshot file; --condition text trains on generated captions.";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("id", "model id stored in the snapshot", "model", ValueName: "ID"),
        new("mode", "cad | baseline | filtered | weighted | cfg", "cad", ValueName: "MODE"),
        new("condition", $"{ConditionKinds.Vocabulary} (aliases label, caption): class labels, or text: a generated caption per image naming its noisy label, read through MiniLM", "class", ValueName: "KIND"),
        new("text-cache", "folder for the captions' token states (--condition text; encoded once per caption set)", "data/text-cache", ValueName: "DIR"),
        new("noise", "label noise: none | entropy | temperature", "entropy", ValueName: "KIND"),
        new("beta", "temperature of the temperature protocol", "0.5", ValueName: "B"),
        new("classifier", "classifier file for --noise temperature (cadstream train-classifier)", ValueName: "FILE"),
        new("steps", "training steps", "2000", ValueName: "N"),
        new("batch", "batch size", "64", ValueName: "B"),
        new("lr", "peak learning rate (AdamW)", "0.0005", ValueName: "LR"),
        new("warmup", "linear warm-up steps", "200", ValueName: "N"),
        new("ema", "EMA decay", "0.999", ValueName: "D"),
        new("width", "U-Net base channels (48 gives ~3.8M parameters)", "48", ValueName: "C"),
        new("schedule", "noise schedule: sigmoid | cosine | linear", "sigmoid", ValueName: "NAME"),
        new("filter-threshold", "mode filtered drops pairs with coherence <= this", "0.5", ValueName: "T"),
        new("guidance", "default guidance rate stored in the snapshot (cad and cfg)", "1", ValueName: "W"),
        new("seed", "seed of the label noise, captions, batches, initial weights and noise draws", "0", ValueName: "S"),
        new("threads", "libtorch threads (default: one per core); the same seed, data and thread count give the same weights on one kind of machine (docs/reproducibility.md)", ValueName: "N"),
        new("limit", "use only the first N training images", ValueName: "N"),
        new("resume", "continue from a snapshot that holds training state", ValueName: "FILE"),
        new("no-training-state", "store only the EMA weights (smaller; cannot resume)", IsFlag: true),
        new("out", "snapshot file to write", "model.cadsnap", ValueName: "FILE"),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        var mode = a.Parse("mode", TrainingModes.Parse);
        var noise = a.RequireString("noise").ToLowerInvariant();
        if (noise is not ("none" or "entropy" or "temperature"))
            throw new UsageException($"--noise must be none, entropy or temperature (got '{noise}')");
        double beta = a.Double("beta", 1e-6, 1e6);
        long steps = a.Long("steps", 1, 100_000_000);
        int batch = a.Int("batch", 1, 65536);
        int width = a.Int("width", 8, 1024);
        if (width % 8 != 0) throw new UsageException($"--width must be a multiple of 8 (got {width})");
        var schedule = a.RequireString("schedule");
        try { Model.Scheduling.NoiseSchedule.Parse(schedule); } catch (ArgumentException e) { throw new UsageException($"--schedule: {e.Message}"); }
        int seed = a.Int("seed");
        var kind = a.Condition();
        var spec = CadStreamSettings.Complete(new ModelSpec
        {
            Id = a.RequireString("id"),
            Kind = kind,
            Dataset = FashionMnist.DatasetName,
            Mode = mode,
            Width = width,
            Schedule = schedule,
            FilterThreshold = a.Double("filter-threshold", 0, 1),
            Guidance = a.Double("guidance", 0, 100),
            LearningRate = a.Double("lr", 0, 1),
            WarmupSteps = a.Int("warmup", 0),
            EmaDecay = a.Double("ema", 0, 1),
            Batch = batch,
            Seed = seed,
        });
        try { spec.Validate(); } catch (ArgumentException e) { throw new UsageException(e.Message); }
        var outPath = a.RequireString("out");
        string? classifierPath = a.String("classifier");
        if (noise == "temperature" && classifierPath is null)
            throw new UsageException("--noise temperature needs --classifier FILE (make one with: cadstream train-classifier --out classifier.bin)");
        if (classifierPath is not null && !File.Exists(classifierPath))
            throw new UsageException($"classifier file '{classifierPath}' does not exist");
        string? resume = a.String("resume");
        if (resume is not null && !File.Exists(resume))
            throw new UsageException($"snapshot file '{resume}' does not exist");

        var device = TorchRuntime.Initialize(threads: Threads(a));
        using var condition = CommandConditions.For(kind);
        var pairs = condition.TrainingPairs(LoadPairs(noise, seed, a.Has("limit") ? a.Int("limit", 1) : null, classifierPath, beta),
            seed, a.RequireString("text-cache"), cancel);

        var resumed = resume is not null ? CadSnapshot.Load(resume) : null;
        if (resumed is not null && resumed.Spec.Kind != kind)
            throw new UsageException($"'{resume}' holds a {resumed.Spec.Kind.Name()} model; --condition {kind.Name()} trains a {kind.Name()} one");
        if (resumed is not null)
            try { resumed.RequireEncoder(condition.EncoderIdentity); } catch (TextEncoderMismatchException e) { throw new UsageException($"'{resume}': {e.Message}"); }
        using var trainer = resumed is not null
            ? CadTrainer.FromSnapshot(resumed, device, spec, condition.EmptyCaption)
            : new CadTrainer(spec, device, condition.EmptyCaption) { TextEncoder = condition.EncoderIdentity };
        if (resume is not null && trainer.Spec.Mode != mode && a.Has("mode"))
            throw new UsageException($"--mode {mode.Name()} differs from the resumed snapshot's mode {trainer.Spec.Mode.Name()}");
        Console.Error.WriteLine($"model: mode {trainer.Spec.Mode.Name()}, {trainer.Model.ParameterCount() / 1e6:F2}M parameters, {TorchRuntime.Describe()}");

        var line = new ProgressLine();
        var clock = Stopwatch.StartNew();
        var final = OfflineTraining.Run(trainer, pairs, steps, batch, seed, p => line.Update(Format(p)), cancel);
        line.Finish(Format(final));
        if (cancel.IsCancellationRequested) Console.Error.WriteLine("interrupted: writing the snapshot of what was trained so far");

        var snapshot = trainer.ToSnapshot(version: 1, includeTrainingState: !a.Flag("no-training-state"));
        snapshot.Save(outPath);
        Console.Error.WriteLine($"wrote {outPath} ({new FileInfo(outPath).Length / 1e6:F1} MB): {trainer.Steps} steps, {trainer.SamplesSeen} samples, {trainer.SkippedSteps} skipped, {clock.Elapsed.TotalSeconds:F0} s");
        return 0;
    }

    /// <summary>--threads N, or null (one per core).</summary>
    public static int? Threads(ParsedArgs a) => a.Has("threads") ? a.Int("threads", 1, 1024) : null;

    static string Format(TrainingProgress p) =>
        $"step {p.Step}/{p.TotalSteps}  loss {p.SmoothedLoss:F4}  {p.ImagesPerSecond:F0} img/s  ETA {Eta.Format(p.EtaSeconds)}" +
        (p.Skipped > 0 ? $"  skipped {p.Skipped}" : "");

    /// <summary>Fashion-MNIST training images with labels noised by the given protocol (seeded); prints what it did.</summary>
    public static PairSet LoadPairs(string noise, int seed, int? limit, string? classifierPath, double beta)
    {
        var data = FashionMnist.Load(train: true);
        int count = limit is int l ? Math.Min(data.Count, l) : data.Count;
        if (count < data.Count) data = data.Slice(0, count);
        LabelNoiseKind kind;
        try { kind = LabelNoise.ParseKind(noise); }
        catch (ArgumentException) { throw new UsageException($"--noise must be none, entropy or temperature (got '{noise}')"); }
        if (kind == LabelNoiseKind.Temperature && classifierPath is null) throw new UsageException("--noise temperature needs --classifier FILE");
        var noisy = LabelNoise.Apply(kind, data, beta, ClassifierFile.Logits(classifierPath), seed);
        Console.Error.WriteLine($"data: {count} Fashion-MNIST images, noise {noise}: {noisy.WrongFraction:P1} of labels wrong, mean coherence {noisy.Coherence.Average():F3}");
        return data.Pairs(noisy.Labels, noisy.Coherence);
    }
}
