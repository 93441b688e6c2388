using CadStream.Catalog;
using CadStream.Model.Conditions;
using CadStream.Model.Networks;
using CadStream.Model.Networks.Conditions;
using CadStream.Model.Scheduling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CadStream.Model.Training;

/// <summary>
/// A mini-batch: images in [-1, 1] (B, C, H, W), class labels and coherence scores; for a text model also
/// the captions' token states (B, T, width) and their mask (B, T), true at real tokens (its labels, if
/// any, are the data set's and go unused).
/// </summary>
public sealed record TrainBatch(Tensor Images, long[] Labels, float[] Coherence, Tensor? Tokens = null, Tensor? TokenMask = null) : IDisposable
{
    public int Count => Labels.Length;

    public void Dispose()
    {
        Images.Dispose();
        Tokens?.Dispose();
        TokenMask?.Dispose();
    }
}

/// <summary>What one step did. A skipped step leaves the weights untouched.</summary>
public readonly record struct StepResult(bool Applied, double Loss, int SamplesUsed, string? SkipReason);

/// <summary>
/// One CAD training step at a time: epsilon-prediction MSE with the comparison modes, AdamW
/// with linear warm-up, gradient clipping, EMA weights and a guard that never lets a
/// non-finite loss or gradient reach the weights. Owns its model; call it from one thread.
/// The weights, gradients, moments and EMA weights each live in one flat buffer
/// (<see cref="FlatAdamW"/>): the update after backward is a few tensor ops, not a few per parameter.
/// </summary>
public sealed class CadTrainer : IDisposable
{
    private readonly FlatAdamW optimizer;
    private readonly Tensor emaWeights;
    private readonly NoiseScheduler scheduler;
    private readonly Generator generator;
    private readonly Random hostRandom;
    private readonly Parameter[] parameters, emaParameters;
    private readonly IModelCondition condition;
    private readonly TokenStates? textNull;

    /// <summary>The model and its training settings.</summary>
    public ModelSpec Spec { get; }
    public CadDenoiser Model { get; }
    public CadDenoiser Ema { get; }
    public Device Device { get; }
    public long Steps { get; private set; }
    public long SamplesSeen { get; private set; }
    public long SkippedSteps { get; private set; }
    /// <summary>When set, each step reports the time of its phases to it (benches).</summary>
    public StepPhaseTimer? PhaseTimer { get; set; }
    /// <summary>Identity of the frozen text encoder whose token states a text model learns from; goes into every snapshot.</summary>
    public string? TextEncoder { get; set; }
    /// <summary>The coherence bin table (JSON, opaque here) that turned raw scores into the coherence this model learns; goes into every snapshot.</summary>
    public string? CoherenceBins { get; set; }

    /// <param name="textNull">
    /// The empty caption's token states: what a text model in a classic-guidance mode drops a caption to for
    /// <see cref="ModelSpec.CfgDropout"/> of pairs (classifier-free guidance's unconditional input). Needed
    /// only then.
    /// </param>
    public CadTrainer(ModelSpec spec, Device device, TokenStates? textNull = null)
    {
        condition = ModelConditions.For(spec);
        condition.RequireTrainingInputs(textNull);
        this.textNull = textNull;
        Spec = spec;
        Device = device;
        // Both start from the spec's seed (CadDenoiser draws its weights under TorchRandom's lock).
        Model = new CadDenoiser(spec);
        Model.to(device);
        Ema = new CadDenoiser(spec);
        Ema.to(device);
        Ema.eval();
        parameters = Model.parameters().ToArray();
        emaParameters = Ema.parameters().ToArray();
        CopyWeights(Model, Ema);
        optimizer = new FlatAdamW(parameters, spec.LearningRate, spec.WeightDecay);
        using (no_grad()) emaWeights = FlatAdamW.Pack(emaParameters, emaParameters.Select(p => (Tensor)p).ToArray());
        scheduler = NoiseScheduler.For(spec);
        generator = new Generator((ulong)spec.Seed, device);
        hostRandom = new Random(spec.Seed);
    }

    /// <summary>
    /// Resumes from a snapshot: its network, with raw weights and optimiser state when present, else
    /// the EMA weights. <paramref name="training"/> gives the optimiser and streaming settings (the
    /// configured ones may have changed since); default the snapshot's own.
    /// </summary>
    public static CadTrainer FromSnapshot(CadSnapshot snapshot, Device device, ModelSpec? training = null, TokenStates? textNull = null)
    {
        var spec = training is null ? snapshot.Spec : snapshot.Spec.WithTrainingOf(training);
        var trainer = new CadTrainer(spec, device, textNull) { TextEncoder = snapshot.TextEncoder, CoherenceBins = snapshot.CoherenceBins };
        snapshot.LoadEmaInto(trainer.Ema);
        if (snapshot.RawWeights is not null) snapshot.LoadRawInto(trainer.Model);
        else CopyWeights(trainer.Ema, trainer.Model);
        if (snapshot.OptimizerState is not null)
        {
            using var reader = new BinaryReader(new MemoryStream(snapshot.OptimizerState));
            trainer.optimizer.LoadState(reader);
        }
        trainer.Steps = snapshot.Steps;
        trainer.SamplesSeen = snapshot.SamplesSeen;
        trainer.SkippedSteps = snapshot.SkippedSteps;
        return trainer;
    }

    public double CurrentLearningRate =>
        Spec.LearningRate * Math.Min(1.0, (Steps + 1) / (double)Math.Max(1, Spec.WarmupSteps));

    public StepResult Step(TrainBatch batch)
    {
        if (batch.Count == 0) return new(false, double.NaN, 0, "empty batch");
        using var scope = NewDisposeScope();
        var timer = PhaseTimer;
        timer?.Start();
        var (images, cond, weights, used) = Prepare(batch);
        timer?.Mark("data");
        if (used == 0)
        {
            SamplesSeen += batch.Count;
            return new(false, double.NaN, 0, "no pair passed the filter");
        }

        Model.train();
        var t = rand(used, generator: generator, device: Device);
        var eps = randn(images.shape, generator: generator, device: Device);
        var (xt, gamma) = scheduler.AddNoise(images, eps, t);
        var pred = Model.call(xt, gamma, cond!);
        var perSample = (pred - eps).Squared().mean([1, 2, 3]);
        var loss = weights is null ? perSample.mean() : (perSample * weights).mean();

        double lossValue = loss.item<float>();
        timer?.Mark("forward");
        SamplesSeen += batch.Count;
        if (!double.IsFinite(lossValue)) return Skip(lossValue, used, "non-finite loss");

        optimizer.ZeroGrad();
        loss.backward();
        timer?.Mark("backward");
        double norm = optimizer.ClipGradNorm(Spec.GradClip);
        timer?.Mark("clip");
        if (!double.IsFinite(norm)) { optimizer.ZeroGrad(); return Skip(lossValue, used, "non-finite gradient"); }

        optimizer.Step(CurrentLearningRate);
        Steps++;
        timer?.Mark("optimizer");
        UpdateEma();
        timer?.Mark("ema");
        return new(true, lossValue, used, null);
    }

    private StepResult Skip(double loss, int used, string reason)
    {
        SkippedSteps++;
        return new(false, loss, used, reason);
    }

    /// <summary>Applies the training mode: which pairs count, what coherence the network sees, loss weights.</summary>
    private (Tensor images, Conditioning? cond, Tensor? weights, int used) Prepare(TrainBatch batch)
    {
        var coh = (float[])batch.Coherence.Clone();
        var images = batch.Images.to(ScalarType.Float32, Device);
        var cond = condition.Training(batch, Device, textNull);
        int count = batch.Count;
        Tensor? weights = null;
        switch (Spec.Mode)
        {
            case TrainingMode.Cad:
                break;
            case TrainingMode.Baseline:
                Array.Fill(coh, 1f);
                break;
            case TrainingMode.Filtered:
            {
                var keep = Enumerable.Range(0, coh.Length).Where(i => coh[i] > Spec.FilterThreshold).ToArray();
                if (keep.Length == 0) return (images, null, null, 0);
                if (keep.Length < coh.Length)
                {
                    var rows = tensor(keep.Select(i => (long)i).ToArray(), device: Device);
                    images = images.index_select(0, rows);
                    cond = cond.Select(rows, keep);
                }
                coh = Enumerable.Repeat(1f, keep.Length).ToArray();
                count = keep.Length;
                break;
            }
            case TrainingMode.Weighted:
            {
                double mean = coh.Average();
                if (mean <= 0) return (images, null, null, 0);
                weights = tensor(coh.Select(c => (float)(c / mean)).ToArray(), device: Device);
                Array.Fill(coh, 1f);
                break;
            }
            case TrainingMode.Cfg:
                Array.Fill(coh, 1f);
                break;
        }
        // Every mode but CAD learns classic classifier-free guidance: the kind's "no condition" (the null label, the
        // empty caption) for a share of pairs. CAD needs no dropout: c = 0 is its unconditional branch.
        if (Spec.Mode.UsesClassicGuidance())
        {
            var dropped = new bool[count];
            for (int i = 0; i < count; i++)
                dropped[i] = hostRandom.NextDouble() < Spec.CfgDropout;
            cond = cond.Drop(dropped);
        }
        return (images, cond.With(tensor(coh, device: Device)), weights, count);
    }

    private void UpdateEma()
    {
        // Warm-up of the decay so early snapshots are not dominated by the random initialisation.
        double decay = Math.Min(Spec.EmaDecay, (1.0 + Steps) / (10.0 + Steps));
        using var _ = no_grad();
        using var weight = tensor(1 - decay);
        emaWeights.lerp_(optimizer.Weights, weight);
    }

    public static void CopyWeights(nn.Module from, nn.Module to)
    {
        using var _ = no_grad();
        foreach (var (a, b) in from.parameters().Zip(to.parameters())) b.copy_(a);
        foreach (var (a, b) in from.buffers().Zip(to.buffers())) b.copy_(a);
    }

    /// <summary>A self-describing snapshot of this trainer (EMA weights; optionally everything to resume).</summary>
    public CadSnapshot ToSnapshot(long version, bool includeTrainingState)
    {
        byte[]? raw = null, opt = null;
        if (includeTrainingState)
        {
            raw = CadSnapshot.ModuleBytes(Model);
            using var ms = new MemoryStream();
            using (var writer = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true))
                optimizer.SaveState(writer, CurrentLearningRate);
            opt = ms.ToArray();
        }
        return new CadSnapshot(Spec, version, Steps, SamplesSeen, SkippedSteps,
            DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), CadSnapshot.ModuleBytes(Ema), raw, opt, TextEncoder, CoherenceBins);
    }

    public void Dispose()
    {
        optimizer.Dispose();
        emaWeights.Dispose();
        Model.Dispose();
        Ema.Dispose();
        generator.Dispose();
    }
}
