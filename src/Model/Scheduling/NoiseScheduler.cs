using System.Text.Json;
using System.Text.Json.Serialization;
using static TorchSharp.torch;
using CadStream.Catalog;

namespace CadStream.Model.Scheduling;

/// <summary>The reverse step: DDIM, DDPM (ancestral), or DPM-Solver++(2M) (Lu et al. 2022, multistep, second order).</summary>
/// <remarks>Shown to users, in JSON too, by its name (<see cref="SamplerKinds.Name"/>): ddim, ddpm, dpm++.</remarks>
[JsonConverter(typeof(SamplerKindJson))]
public enum SamplerKind { Ddim, Ddpm, DpmPlusPlus }

public static class SamplerKinds
{
    public static SamplerKind Parse(string s) => s.Trim().ToLowerInvariant() switch
    {
        "ddim" => SamplerKind.Ddim,
        "ddpm" => SamplerKind.Ddpm,
        "dpm++" or "dpmpp" or "dpm++2m" => SamplerKind.DpmPlusPlus,
        _ => throw new ArgumentException($"unknown sampler '{s}'; expected ddim, ddpm or dpm++"),
    };

    public static string Name(this SamplerKind k) => k switch
    {
        SamplerKind.DpmPlusPlus => "dpm++",
        _ => k.ToString().ToLowerInvariant(),
    };
}

/// <summary>A sampler in JSON (evaluation reports) by its name; a number, as reports before names were written, still reads.</summary>
public sealed class SamplerKindJson : JsonConverter<SamplerKind>
{
    public override SamplerKind Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.String => ParseOrThrow(reader.GetString()!),
        JsonTokenType.Number when reader.TryGetInt32(out var n) && Enum.IsDefined((SamplerKind)n) => (SamplerKind)n,
        _ => throw new JsonException("a sampler is ddim, ddpm or dpm++"),
    };

    static SamplerKind ParseOrThrow(string name)
    {
        try { return SamplerKinds.Parse(name); }
        catch (ArgumentException e) { throw new JsonException(e.Message); }
    }

    public override void Write(Utf8JsonWriter writer, SamplerKind value, JsonSerializerOptions options) => writer.WriteStringValue(value.Name());
}

/// <summary>How to walk back from noise: which reverse step, how many steps, DDIM's eta.</summary>
public sealed record SamplerSettings(int Steps = 50, SamplerKind Kind = SamplerKind.Ddim, double Eta = 0.0)
{
    public const int MaxSteps = 1000;

    public void Validate()
    {
        if (Steps is < 1 or > MaxSteps) throw new ArgumentException($"steps must be in 1..{MaxSteps} (got {Steps})");
        if (!(Eta >= 0 && Eta <= 1)) throw new ArgumentException($"eta must be in [0, 1] (got {Eta})");
    }
}

/// <summary>
/// The scheduler, as in diffusers: it owns the noise schedule g(t), the forward process used in
/// training (x_t = sqrt(g) x0 + sqrt(1 - g) eps) and the reverse steps used in sampling. No network
/// inside: the pipeline calls the model and hands its noise prediction to <see cref="ReverseRun.Step"/>.
/// The static methods are the closed forms, on tensors, that the instance methods apply.
/// </summary>
public sealed class NoiseScheduler(NoiseSchedule schedule)
{
    public NoiseSchedule Schedule { get; } = schedule;

    public static NoiseScheduler For(ModelSpec spec) => new(NoiseSchedule.Parse(spec.Schedule));

    /// <summary>Training input at times <paramref name="t"/> (B) in [0, 1]: x_t and the g(t) the network is told.</summary>
    public (Tensor Xt, Tensor Gamma) AddNoise(Tensor x0, Tensor eps, Tensor t)
    {
        var gamma = Schedule.Gamma(t);
        return (Forward(x0, eps, gamma), gamma);
    }

    /// <summary>A walk from t = 1 (noise) to t = 0 with the given settings; one per sampling call.</summary>
    public ReverseRun Begin(SamplerSettings settings)
    {
        settings.Validate();
        return new ReverseRun(this, settings);
    }

    /// <summary>
    /// One sampling walk: times 1 = t_0 > t_1 > ... > t_n = 0 and the step between neighbours. A multistep
    /// sampler (dpm++) keeps the previous step's x0 prediction here, so a run serves one walk and is disposed after it.
    /// </summary>
    public sealed class ReverseRun : IDisposable
    {
        private readonly NoiseScheduler owner;
        private readonly double[] times;
        private Tensor? previousX0;
        private double previousH = double.NaN;

        internal ReverseRun(NoiseScheduler owner, SamplerSettings settings)
        {
            this.owner = owner;
            Settings = settings;
            times = TimeGrid(settings.Steps);
        }

        public SamplerSettings Settings { get; }
        public int Steps => Settings.Steps;

        /// <summary>g at the start of step <paramref name="i"/> (what the network is told).</summary>
        public double GammaAt(int i) => owner.Schedule.Gamma(times[i]);

        /// <summary>Whether step <paramref name="i"/> draws fresh noise (DDPM, or DDIM with eta > 0, before the last step).</summary>
        public bool NeedsNoise(int i) =>
            (Settings.Kind == SamplerKind.Ddpm || Settings.Eta > 0) && owner.Schedule.Gamma(times[i + 1]) < 1.0;

        /// <summary>x at step i + 1 from x at step i and the (guided) noise prediction.</summary>
        public Tensor Step(int i, Tensor xt, Tensor eps, Tensor? noise)
        {
            double gT = owner.Schedule.Gamma(times[i]), gS = owner.Schedule.Gamma(times[i + 1]);
            return Settings.Kind switch
            {
                SamplerKind.Ddim => DdimStep(xt, eps, gT, gS, Settings.Eta, noise),
                SamplerKind.Ddpm => DdpmStep(xt, eps, gT, gS, noise),
                _ => DpmStep(xt, eps, gT, gS),
            };
        }

        private Tensor DpmStep(Tensor xt, Tensor eps, double gT, double gS)
        {
            using var scope = NewDisposeScope();
            var x0 = PredictX0(xt, eps, tensor(gT, dtype: xt.dtype, device: xt.device).expand(xt.shape[0])).ClampInPlace(-1, 1);
            var next = DpmSolverPlusPlusStep(xt, x0, previousX0, gT, gS, previousH);
            previousX0?.Dispose();
            previousX0 = x0.detach().clone().DetachFromDisposeScope();
            previousH = Lambda(gS) - Lambda(gT);
            return next.MoveToOuterDisposeScope();
        }

        public void Dispose() => previousX0?.Dispose();
    }

    /// <summary>Half the log signal-to-noise ratio, lambda = log(alpha / sigma) = log(g / (1 - g)) / 2 (+inf at g = 1).</summary>
    public static double Lambda(double gamma) => gamma >= 1.0 ? double.PositiveInfinity : 0.5 * Math.Log(gamma / (1 - gamma));

    /// <summary>
    /// DPM-Solver++(2M) from signal variance gT to gS with data predictions: x_s = (sigma_s / sigma_t) x_t +
    /// alpha_s (1 - e^-h) D, h = lambda_s - lambda_t. D is this step's x0 prediction (first order: the first
    /// step, which equals DDIM's, and the last one into g = 1, where h is infinite and x_s = D) or, with the
    /// previous step's prediction and its h_prev, D = (1 + 1/(2r)) x0 - 1/(2r) x0_prev with r = h_prev / h.
    /// </summary>
    public static Tensor DpmSolverPlusPlusStep(Tensor xt, Tensor x0, Tensor? x0Previous, double gT, double gS, double hPrevious)
    {
        if (gS >= 1.0) return x0.alias();
        double h = Lambda(gS) - Lambda(gT);
        double sigmaRatio = Math.Sqrt((1 - gS) / (1 - gT));
        double dataScale = Math.Sqrt(gS) * (h < 1e-4 ? h - h * h / 2 : 1 - Math.Exp(-h));  // alpha_s (1 - e^-h), series for tiny h
        using var scope = NewDisposeScope();
        Tensor d = x0;
        if (x0Previous is not null && double.IsFinite(hPrevious) && hPrevious > 0)
        {
            double half = 1.0 / (2 * (hPrevious / h));
            d = x0.Times(1 + half) - x0Previous.Times(half);
        }
        return xt.Times(sigmaRatio).Plus(d.Times(dataScale)).MoveToOuterDisposeScope();
    }

    /// <summary>Times 1 = t_0 > t_1 > ... > t_n = 0, evenly spaced.</summary>
    public static double[] TimeGrid(int steps)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), "steps must be >= 1");
        var t = new double[steps + 1];
        for (int i = 0; i <= steps; i++) t[i] = 1.0 - (double)i / steps;
        return t;
    }

    /// <summary>The forward process at given signal variances: x_t = sqrt(g) x0 + sqrt(1 - g) eps; g is (B), broadcast over the image.</summary>
    public static Tensor Forward(Tensor x0, Tensor eps, Tensor gamma)
    {
        using var g = Broadcast(gamma, x0);
        using var a = g.sqrt();
        using var b = g.SubtractedFrom(1).sqrt_();
        return (a * x0).Plus(b * eps);
    }

    /// <summary>x0 = (x_t - sqrt(1 - g) eps) / sqrt(g).</summary>
    public static Tensor PredictX0(Tensor xt, Tensor eps, Tensor gamma)
    {
        using var g = Broadcast(gamma, xt);
        using var a = g.sqrt();
        using var b = g.SubtractedFrom(1).sqrt_();
        return (xt - b * eps) / a;
    }

    /// <summary>eps = (x_t - sqrt(g) x0) / sqrt(1 - g).</summary>
    public static Tensor PredictEps(Tensor xt, Tensor x0, Tensor gamma)
    {
        using var g = Broadcast(gamma, xt);
        using var a = g.sqrt();
        using var b = g.SubtractedFrom(1).sqrt_();
        return (xt - a * x0) / b;
    }

    /// <summary>(B) to (B, 1, 1, 1) so it multiplies an image batch.</summary>
    public static Tensor Broadcast(Tensor perSample, Tensor like)
    {
        var shape = new long[like.dim()];
        Array.Fill(shape, 1L);
        shape[0] = like.shape[0];
        return perSample.to(like.dtype).reshape(shape);
    }

    /// <summary>
    /// DDIM (Song et al.) from signal variance gT to gS (> gT): eta = 0 is deterministic; eta = 1
    /// matches DDPM's variance. The predicted x0 is clamped to [-1, 1] and the noise re-derived from
    /// it, so the two stay consistent.
    /// </summary>
    public static Tensor DdimStep(Tensor xt, Tensor eps, double gT, double gS, double eta, Tensor? noise)
    {
        using var scope = NewDisposeScope();
        var gt = tensor(gT, dtype: xt.dtype, device: xt.device);
        var x0 = PredictX0(xt, eps, gt.expand(xt.shape[0])).ClampInPlace(-1, 1);
        if (gS >= 1.0) return x0.MoveToOuterDisposeScope();
        var epsClamped = PredictEps(xt, x0, gt.expand(xt.shape[0]));
        double sigma = eta * Math.Sqrt((1 - gS) / (1 - gT)) * Math.Sqrt(Math.Max(0, 1 - gT / gS));
        double dirScale = Math.Sqrt(Math.Max(0, 1 - gS - sigma * sigma));
        var xs = x0.Times(Math.Sqrt(gS)).Plus(epsClamped.Times(dirScale));
        if (sigma > 0)
        {
            if (noise is null) throw new ArgumentException("DDIM with eta > 0 needs noise");
            xs = xs.Plus(noise.Times(sigma));
        }
        return xs.MoveToOuterDisposeScope();
    }

    /// <summary>DDPM ancestral step from gT to gS: a draw from q(x_s | x_t, x0_hat), x0_hat clamped to [-1, 1].</summary>
    public static Tensor DdpmStep(Tensor xt, Tensor eps, double gT, double gS, Tensor? noise)
    {
        using var scope = NewDisposeScope();
        var gt = tensor(gT, dtype: xt.dtype, device: xt.device).expand(xt.shape[0]);
        var x0 = PredictX0(xt, eps, gt).ClampInPlace(-1, 1);
        if (gS >= 1.0) return x0.MoveToOuterDisposeScope();
        double alpha = gT / gS;  // signal variance kept from s to t
        double c0 = Math.Sqrt(gS) * (1 - alpha) / (1 - gT);
        double ct = Math.Sqrt(alpha) * (1 - gS) / (1 - gT);
        double variance = (1 - alpha) * (1 - gS) / (1 - gT);
        var mean = x0.Times(c0).Plus(xt.Times(ct));
        if (variance > 0)
        {
            if (noise is null) throw new ArgumentException("DDPM needs noise");
            mean = mean.Plus(noise.Times(Math.Sqrt(variance)));
        }
        return mean.MoveToOuterDisposeScope();
    }
}
