using CadStream.Catalog;
using CadStream.Model.Conditions;
using CadStream.Model.Networks.Conditions;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CadStream.Model.Networks;

/// <summary>What a sampler needs of a model: the predicted noise for a batch.</summary>
public interface IDenoiser
{
    ModelSpec Spec { get; }
    Tensor Predict(Tensor xt, Tensor gamma, Conditioning cond);
}

/// <summary>
/// eps_theta(x_t, condition, coherence, g): the noise-level embedding (sinusoidal of g * 1000,
/// then an MLP) plus the condition encoder's vector modulate the U-Net; an encoder's context
/// sequence (a text model's, <see cref="TextCoherenceEncoder"/>) is also cross-attended to. The kind's
/// unit (<see cref="ModelConditions"/>) makes the encoder. Pads the image to the U-Net's size and crops
/// the prediction back, so diffusion happens at the data's resolution.
/// </summary>
public sealed class CadDenoiser : nn.Module<Tensor, Tensor, Conditioning, Tensor>, IDenoiser
{
    private readonly Sequential noiseLevelMlp;
    private readonly ConditionEncoder condition;
    private readonly UNet unet;
    private readonly int pad, sinusoidDim;

    public ModelSpec Spec { get; }

    private readonly DropoutNoise dropoutNoise;

    /// <summary>
    /// Builds the network with its initial weights drawn from torch's global generator seeded with
    /// <see cref="ModelSpec.Seed"/>, under <see cref="TorchRandom"/>'s lock: the same spec gives the same
    /// weights whatever other threads do. Dropout (if any) draws from the network's own generator.
    /// </summary>
    public CadDenoiser(ModelSpec spec) : base(nameof(CadDenoiser))
    {
        spec.Validate();
        using var seeded = TorchRandom.Seeded(spec.Seed);
        Spec = spec;
        int emb = spec.EmbeddingDim;
        sinusoidDim = spec.Width;
        pad = (spec.UNetSize - spec.ImageSize) / 2;
        noiseLevelMlp = nn.Sequential(nn.Linear(sinusoidDim, emb), nn.SiLU(), nn.Linear(emb, emb));
        var kind = ModelConditions.For(spec);
        // The field's name is the state-dict prefix of the encoder's weights ("condition."): snapshots depend on it.
        condition = kind.Encoder(emb, sinusoidDim);
        int fold = spec.PatchSize * spec.PatchSize;
        unet = new UNet((spec.Channels + spec.ExtraInputChannels) * fold, spec.Channels * fold, spec.Width,
            spec.ChannelMultipliers, spec.ResBlocksPerLevel, emb, spec.NormGroups, spec.Dropout,
            spec.MidAttention, spec.AttentionHeads,
            kind.ContextDim, spec.LevelSides, spec.CrossAttentionResolutions);
        RegisterComponents();
        dropoutNoise = new DropoutNoise(spec.Seed);
        foreach (var d in modules().OfType<SeededDropout>()) d.Noise = dropoutNoise;
    }

    /// <param name="xt">(B, C, H, W) noisy images.</param>
    /// <param name="gamma">(B) signal variance g(t) of each sample.</param>
    /// <param name="cond">coherence (B) and labels (B) or token states (B, T, width) with their mask (B, T).</param>
    public override Tensor forward(Tensor xt, Tensor gamma, Conditioning cond)
    {
        using var scope = NewDisposeScope();
        var c = condition.call(cond);
        var emb = noiseLevelMlp.call(SinusoidalEmbedding.Embed(gamma.Times(SinusoidalEmbedding.InputScale), sinusoidDim)).Plus(c.Vector);
        var x = cond.SpatialMaps is null ? xt : cat([xt, cond.SpatialMaps], 1);
        if (pad > 0) x = nn.functional.pad(x, [pad, pad, pad, pad]);
        if (Spec.PatchSize > 1) x = nn.functional.pixel_unshuffle(x, Spec.PatchSize);
        var eps = unet.Forward(x, emb, c.Context, c.ContextMask);
        if (Spec.PatchSize > 1) eps = nn.functional.pixel_shuffle(eps, Spec.PatchSize);
        if (pad > 0)
        {
            int s = Spec.ImageSize;
            eps = eps[.., .., pad..(pad + s), pad..(pad + s)];
        }
        return eps.contiguous().MoveToOuterDisposeScope();
    }

    public Tensor Predict(Tensor xt, Tensor gamma, Conditioning cond) => call(xt, gamma, cond);

    public long ParameterCount() => parameters().Sum(p => p.numel());

    protected override void Dispose(bool disposing)
    {
        if (disposing) dropoutNoise.Dispose();
        base.Dispose(disposing);
    }
}
