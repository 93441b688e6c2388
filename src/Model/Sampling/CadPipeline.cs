using CadStream.Catalog;
using CadStream.Model.Conditions;
using CadStream.Model.Networks;
using CadStream.Model.Scheduling;
using static TorchSharp.torch;

namespace CadStream.Model.Sampling;

/// <summary>
/// One sampling request: Count images of class Label (a text model: of the caption whose token states are
/// <see cref="Prompt"/>) at coherence Coherence with guidance rate Guidance, from its own seed (so a
/// request's images do not depend on what it is batched with). How the reverse process runs (steps,
/// sampler) is the batch's <see cref="SamplerSettings"/>.
/// </summary>
public sealed record SampleRequest(int Label, int Count = 1, double Coherence = 1.0, double Guidance = 0.0, long Seed = 0)
{
    public const int MaxCount = 64;

    /// <summary>A text model's prompt: the caption's token states from the frozen text encoder.</summary>
    public TokenStates? Prompt { get; init; }

    /// <summary>
    /// A text model's second guidance branch: the negative caption's token states, read at c = 0 by a CAD model
    /// (by default random gibberish) and at c = 1 by a classic-guidance one (by default the empty caption).
    /// Needed when Guidance is not 0.
    /// </summary>
    public TokenStates? Negative { get; init; }

    /// <summary>A request to a text model. <paramref name="label"/> is only a note of the class the prompt names (-1: none), for evaluation.</summary>
    public static SampleRequest ForPrompt(TokenStates prompt, TokenStates? negative, int count = 1, double coherence = 1.0, double guidance = 0.0,
        long seed = 0, int label = -1) => new(label, count, coherence, guidance, seed) { Prompt = prompt, Negative = negative };

    public void Validate(ModelSpec spec) => Validate(ModelConditions.For(spec));

    /// <summary>The request's condition as the kind's unit reads it, then what every request shares.</summary>
    public void Validate(IModelCondition condition)
    {
        condition.Validate(this);
        if (Count < 1) throw new ArgumentException("count must be >= 1");
        if (!(Coherence >= 0 && Coherence <= 1)) throw new ArgumentException($"coherence must be in [0, 1] (got {Coherence})");
        if (!double.IsFinite(Guidance) || Guidance < 0) throw new ArgumentException($"guidance must be a finite number >= 0 (got {Guidance})");
    }
}

/// <summary>
/// Joins a denoiser, the scheduler and guidance into a sampler (diffusers' pipeline). Every
/// request's images ride in one batch: each step runs the network once for all of them and for
/// the second guidance branch of the guided ones.
/// </summary>
public sealed class CadPipeline(IDenoiser denoiser, Device device)
{
    private readonly NoiseScheduler scheduler = NoiseScheduler.For(denoiser.Spec);
    private readonly IModelCondition condition = ModelConditions.For(denoiser.Spec);

    public IDenoiser Denoiser { get; } = denoiser;
    public ModelSpec Spec => Denoiser.Spec;

    /// <summary>Runs the requests; returns one (Count, C, H, W) CPU tensor in [-1, 1] per request.</summary>
    public Tensor[] Sample(IReadOnlyList<SampleRequest> requests, SamplerSettings settings, Action<int, int>? progress = null)
    {
        if (requests.Count == 0) return [];
        foreach (var r in requests) r.Validate(condition);
        using var run = scheduler.Begin(settings);
        int c = Spec.Channels, size = Spec.ImageSize;
        bool classicCfg = Spec.Mode.UsesClassicGuidance();

        using var outer = NewDisposeScope();
        using var _ = no_grad();
        // Noise is drawn on the CPU from each request's seed: the same seed gives the same images on any device.
        var generators = requests.Select(r => new Generator((ulong)r.Seed, CPU)).ToArray();
        var x = cat(requests.Select((r, i) => randn([r.Count, c, size, size], generator: generators[i])).ToArray(), 0).to(device);

        // One network call: every request's conditional rows, then the second branch of the guided ones
        // (CA-CFG: the same condition at c = 0; classic CFG: the kind's "no condition" at c = 1; a text model
        // reads the negative caption in both, the empty one by default for classic guidance).
        var rows = new List<SampleRequest>();
        var guidedRequests = new List<SampleRequest>();
        var coherence = new List<float>();
        var guidedRows = new List<long>();
        var guidance = new List<float>();
        foreach (var r in requests)
            for (int k = 0; k < r.Count; k++)
            {
                if (r.Guidance != 0)
                {
                    guidedRows.Add(rows.Count);
                    guidedRequests.Add(r);
                    guidance.Add((float)r.Guidance);
                }
                rows.Add(r);
                coherence.Add(classicCfg ? 1f : (float)r.Coherence);
            }
        int n = rows.Count;
        coherence.AddRange(Enumerable.Repeat(classicCfg ? 1f : 0f, guidedRows.Count));
        var cond = condition.Sampling(rows, guidedRequests, classicCfg, tensor(coherence.ToArray(), device: device), device);
        var guided = guidedRows.Count > 0 ? tensor(guidedRows.ToArray(), device: device) : null;
        var w = guidedRows.Count > 0 ? tensor(guidance.ToArray(), device: device) : null;

        for (int step = 0; step < run.Steps; step++)
        {
            using var stepScope = NewDisposeScope();
            var input = guided is null ? x : cat([x, x.index_select(0, guided)], 0);
            var gamma = TensorMath.Full(input.shape[0], run.GammaAt(step), ScalarType.Float32, device);
            var eps = Denoiser.Predict(input, gamma, cond);
            var epsCond = eps.narrow(0, 0, n);
            if (guided is not null)
            {
                var mixed = Guidance.Combine(epsCond.index_select(0, guided), eps.narrow(0, n, guided.shape[0]), w!);
                epsCond = epsCond.index_copy(0, guided, mixed);
            }
            Tensor? noise = run.NeedsNoise(step)
                ? cat(requests.Select((r, i) => randn([r.Count, c, size, size], generator: generators[i])).ToArray(), 0).to(device)
                : null;
            var next = run.Step(step, x, epsCond, noise).MoveToOuterDisposeScope();
            x.Dispose();
            x = next;
            progress?.Invoke(step + 1, run.Steps);
        }
        foreach (var g in generators) g.Dispose();
        var result = new Tensor[requests.Count];
        long offset = 0;
        for (int i = 0; i < requests.Count; i++)
        {
            result[i] = x.narrow(0, offset, requests[i].Count).cpu().clone().DetachFromDisposeScope();
            offset += requests[i].Count;
        }
        return result;
    }
}
