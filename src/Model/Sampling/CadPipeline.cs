using CadStream.Model.Networks;
using CadStream.Model.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace CadStream.Model.Sampling;

/// <summary>
/// One sampling job: Count images of class Label at coherence Coherence with guidance rate
/// Guidance, from its own seed (so a job's images do not depend on what it is batched with).
/// </summary>
public sealed record SampleRequest(int Label, int Count = 1, double Coherence = 1.0, double Guidance = 0.0, long Seed = 0)
{
    public void Validate(ModelConfig config)
    {
        if (Label < 0 || Label >= config.NumClasses) throw new ArgumentException($"label {Label} is outside 0..{config.NumClasses - 1}");
        if (Count < 1) throw new ArgumentException("count must be >= 1");
        if (!(Coherence >= 0 && Coherence <= 1)) throw new ArgumentException($"coherence must be in [0, 1] (got {Coherence})");
        if (!double.IsFinite(Guidance) || Guidance < 0) throw new ArgumentException($"guidance must be a finite number >= 0 (got {Guidance})");
    }
}

public sealed record SamplerSettings(int Steps = 50, SamplerKind Kind = SamplerKind.Ddim, double Eta = 0.0, string? Schedule = null);

/// <summary>
/// Joins a denoiser, a noise schedule, guidance and a reverse step into a sampler. Each step runs
/// the network once for all jobs and both guidance branches together (one batch).
/// </summary>
public sealed class CadPipeline(IDenoiser denoiser, Device device)
{
    public IDenoiser Denoiser { get; } = denoiser;
    public ModelConfig Config => Denoiser.Config;

    /// <summary>Runs the jobs; returns one (Count, C, H, W) CPU tensor in [-1, 1] per job.</summary>
    public Tensor[] Sample(IReadOnlyList<SampleRequest> jobs, SamplerSettings settings, Action<int, int>? progress = null)
    {
        if (jobs.Count == 0) return [];
        foreach (var j in jobs) j.Validate(Config);
        if (settings.Steps is < 1 or > 1000) throw new ArgumentException($"steps must be in 1..1000 (got {settings.Steps})");
        var schedule = NoiseSchedule.Parse(settings.Schedule ?? Config.Schedule);
        var times = ReverseStep.TimeGrid(settings.Steps);
        int c = Config.Channels, size = Config.ImageSize;
        bool classicCfg = Config.Mode == TrainingMode.Cfg;

        using var outer = NewDisposeScope();
        using var _ = no_grad();
        // Noise is drawn on the CPU from each job's seed: the same seed gives the same images on any device.
        var generators = jobs.Select(j => new Generator((ulong)j.Seed, CPU)).ToArray();
        var xs = jobs.Select((j, i) => randn([j.Count, c, size, size], generator: generators[i]).to(device)).ToArray();

        // Inputs of one network call: every job's conditional branch, then unconditional branches of guided jobs.
        var labels = new List<long>();
        var coherence = new List<float>();
        foreach (var j in jobs)
            for (int k = 0; k < j.Count; k++) { labels.Add(j.Label); coherence.Add(classicCfg ? 1f : (float)j.Coherence); }
        int conditionalCount = labels.Count;
        foreach (var j in jobs.Where(j => j.Guidance != 0))
            for (int k = 0; k < j.Count; k++)
            {
                labels.Add(classicCfg ? Denoiser.NullClass : j.Label);
                coherence.Add(classicCfg ? 1f : 0f);
            }
        var labelTensor = tensor(labels.ToArray(), device: device);
        var coherenceTensor = tensor(coherence.ToArray(), device: device);
        var cond = new Conditioning(coherenceTensor, labelTensor);

        for (int step = 0; step < settings.Steps; step++)
        {
            using var stepScope = NewDisposeScope();
            double gT = schedule.Gamma(times[step]), gS = schedule.Gamma(times[step + 1]);
            var guidedInputs = jobs.Select((j, i) => (j, i)).Where(p => p.j.Guidance != 0).Select(p => xs[p.i]);
            var x = cat(xs.Concat(guidedInputs).ToArray(), 0);
            var gamma = full(x.shape[0], gT, dtype: ScalarType.Float32, device: device);
            var eps = Denoiser.Predict(x, gamma, cond);

            int condOffset = 0, uncondOffset = conditionalCount;
            for (int i = 0; i < jobs.Count; i++)
            {
                var j = jobs[i];
                var epsJob = eps.narrow(0, condOffset, j.Count);
                condOffset += j.Count;
                if (j.Guidance != 0)
                {
                    epsJob = Guidance.Combine(epsJob, eps.narrow(0, uncondOffset, j.Count), j.Guidance);
                    uncondOffset += j.Count;
                }
                bool needsNoise = settings.Kind == SamplerKind.Ddpm || settings.Eta > 0;
                Tensor? noise = needsNoise && gS < 1.0 ? randn(xs[i].shape, generator: generators[i]).to(device) : null;
                var next = settings.Kind == SamplerKind.Ddim
                    ? ReverseStep.Ddim(xs[i], epsJob, gT, gS, settings.Eta, noise)
                    : ReverseStep.Ddpm(xs[i], epsJob, gT, gS, noise);
                xs[i].Dispose();
                xs[i] = next.MoveToOuterDisposeScope();
            }
            progress?.Invoke(step + 1, settings.Steps);
        }
        foreach (var g in generators) g.Dispose();
        return xs.Select(x => x.cpu().DetachFromDisposeScope()).ToArray();
    }
}
