using System.Diagnostics;
using CadStream.Catalog;
using CadStream.Host.Cli;
using CadStream.Model;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Model.Training;
using CadStream.Scoring;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Calls every torch op the project uses, on the device the runtime picked (CUDA on a GPU machine): a
/// training step in each mode (flat AdamW, clipping, EMA, the non-finite guard), snapshots with training
/// state saved, loaded and resumed, sampling with each sampler guided and unguided, the classifier's
/// training step and features. TorchSharp's shim is built for one libtorch; a CUDA libtorch of another
/// version can abort the process at the first op whose symbol changed, so each check prints its name
/// before it runs: the last "check" line names the op that took the process down.
/// </summary>
sealed class SmokeBench : ICommand
{
    public string Name => "smoke";
    public string Summary => "Runs every torch op the project uses on the selected device (CADSTREAM_DEVICE) and says which one fails.";
    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("width", "U-Net base channels", "16", ValueName: "C"),
        new("batch", "batch size", "8", ValueName: "B"),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        var device = Bench.Start();
        int width = a.Int("width", 8), batch = a.Int("batch", 2, 4096);
        int passed = 0;
        var clock = Stopwatch.StartNew();
        void Check(string name, Action body)
        {
            Console.WriteLine($"check {name}");
            var sw = Stopwatch.StartNew();
            body();
            Bench.Synchronize(device);
            Console.WriteLine($"ok {name} {sw.Elapsed.TotalMilliseconds:F0} ms");
            passed++;
        }

        var baseSpec = Bench.Spec("smoke", width) with { WarmupSteps = 1, Batch = batch, ChannelMultipliers = [1, 2, 2], Guidance = 1.0 };
        var pairs = Bench.RandomPairs(4 * batch, baseSpec);
        var sampler = new BatchSampler(pairs.Count, batch, 0);
        CadSnapshot? cadSnapshot = null, cfgSnapshot = null;

        foreach (var mode in Enum.GetValues<TrainingMode>())
        {
            var spec = baseSpec with { Id = mode.Name(), Mode = mode };
            Check($"train-{mode.Name()}", () =>
            {
                using var trainer = new CadTrainer(spec, device);
                for (int i = 0; i < 2; i++)
                {
                    var b = pairs.Batch(sampler.Next(), device);
                    using (b.Images)
                    {
                        var r = trainer.Step(b);
                        if (!r.Applied && mode != TrainingMode.Filtered) throw new InvalidOperationException($"step skipped: {r.SkipReason}");
                        if (r.Applied && !double.IsFinite(r.Loss)) throw new InvalidOperationException($"loss {r.Loss}");
                    }
                }
                if (mode == TrainingMode.Cad) cadSnapshot = trainer.ToSnapshot(1, includeTrainingState: true);
                if (mode == TrainingMode.Cfg) cfgSnapshot = trainer.ToSnapshot(1, includeTrainingState: true);
            });
        }

        Check("non-finite-guard", () =>
        {
            using var trainer = new CadTrainer(baseSpec, device);
            var b = pairs.Batch(sampler.Next(), device);
            using var nan = zeros_like(b.Images).FillInPlace(float.NaN);
            using (b.Images)
            {
                var r = trainer.Step(b with { Images = nan });
                if (r.Applied) throw new InvalidOperationException("a NaN batch was applied");
            }
        });

        Check("snapshot-save-load-resume", () =>
        {
            var path = Path.Combine(Path.GetTempPath(), $"cadstream-smoke-{Environment.ProcessId}.cadsnap");
            try
            {
                cadSnapshot!.Save(path);
                var back = CadSnapshot.Load(path);
                using var resumed = CadTrainer.FromSnapshot(back, device);
                var b = pairs.Batch(sampler.Next(), device);
                using (b.Images) if (!resumed.Step(b).Applied) throw new InvalidOperationException("resumed step skipped");
                if (resumed.Steps != cadSnapshot.Steps + 1) throw new InvalidOperationException("resume lost the step count");
            }
            finally { File.Delete(path); }
        });

        foreach (var (name, snapshot) in new[] { ("cad", cadSnapshot!), ("cfg", cfgSnapshot!) })
            foreach (var kind in Enum.GetValues<SamplerKind>())
                foreach (var eta in kind == SamplerKind.Ddim ? new[] { 0.0, 1.0 } : [0.0])
                    Check($"sample-{name}-{kind.Name()}{(eta > 0 ? "-eta1" : "")}", () =>
                    {
                        using var model = snapshot.CreateDenoiser(device);
                        var pipeline = new CadPipeline(model, device);
                        var images = pipeline.Sample(
                            [new SampleRequest(3, 2, 1.0, 1.0, 7), new SampleRequest(5, 1, 0.5, 0.0, 8)],
                            new SamplerSettings(4, kind, eta));
                        foreach (var t in images)
                        {
                            if (!t.isfinite().all().item<bool>()) throw new InvalidOperationException("non-finite sample");
                            ImageTensors.ToBytes(t);
                            t.Dispose();
                        }
                    });

        Check("classifier-train-and-features", () =>
        {
            using var scope = NewDisposeScope();
            var model = new FashionClassifier();
            model.to(device);
            using var optimizer = new FlatAdamW(model.parameters().ToArray(), 1e-3, weightDecay: 0);
            var x = pairs.Images(Enumerable.Range(0, batch).ToArray(), device);
            var y = tensor(Enumerable.Range(0, batch).Select(i => (long)(i % 10)).ToArray(), device: device);
            model.train();
            optimizer.ZeroGrad();
            var loss = nn.functional.cross_entropy(model.call(x), y);
            loss.backward();
            optimizer.Step(1e-3);
            model.eval();
            var logits = ClassifierTraining.PredictLogits(model, x.cpu());
            var features = ClassifierTraining.ExtractFeatures(model, x.cpu());
            if (logits.Length != batch * FashionClassifier.NumClasses || features.Length != batch * FashionClassifier.FeatureDim)
                throw new InvalidOperationException("classifier output of the wrong size");
            var probs = FashionClassifier.Softmax(logits.AsSpan(0, FashionClassifier.NumClasses));
            if (!float.IsFinite(probs.Sum())) throw new InvalidOperationException("non-finite classifier output");
        });

        Console.WriteLine($"smoke_checks_passed {passed}");
        Console.WriteLine($"smoke_seconds {clock.Elapsed.TotalSeconds:F1}");
        return 0;
    }
}
