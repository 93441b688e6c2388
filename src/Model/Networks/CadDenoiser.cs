using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CadStream.Model.Networks;

/// <summary>What a sampler needs of a model: the predicted noise for a batch.</summary>
public interface IDenoiser
{
    ModelSpec Spec { get; }
    /// <summary>The class index that means "no condition" (classic CFG's second branch).</summary>
    int NullClass { get; }
    Tensor Predict(Tensor xt, Tensor gamma, Conditioning cond);
}

/// <summary>
/// eps_theta(x_t, condition, coherence, g): the noise-level embedding (sinusoidal of g * 1000,
/// then an MLP) plus the condition encoder's vector modulate the U-Net. Pads the image to the
/// U-Net's size and crops the prediction back, so diffusion happens at the data's resolution.
/// </summary>
public sealed class CadDenoiser : nn.Module<Tensor, Tensor, Conditioning, Tensor>, IDenoiser
{
    private readonly Sequential noiseLevelMlp;
    private readonly ConditionEncoder condition;
    private readonly UNet unet;
    private readonly int pad, sinusoidDim;

    public ModelSpec Spec { get; }
    public int NullClass { get; }

    public CadDenoiser(ModelSpec spec) : base(nameof(CadDenoiser))
    {
        spec.Validate();
        Spec = spec;
        int emb = spec.EmbeddingDim;
        sinusoidDim = spec.Width;
        pad = (spec.UNetSize - spec.ImageSize) / 2;
        noiseLevelMlp = nn.Sequential(nn.Linear(sinusoidDim, emb), nn.SiLU(), nn.Linear(emb, emb));
        var encoder = spec.Kind switch
        {
            "class" => new ClassCoherenceEncoder(spec.NumClasses, emb, sinusoidDim),
            _ => throw new NotSupportedException($"condition kind '{spec.Kind}' is not available yet"),
        };
        NullClass = encoder.NullClass;
        condition = encoder;
        int fold = spec.PatchSize * spec.PatchSize;
        unet = new UNet((spec.Channels + spec.ExtraInputChannels) * fold, spec.Channels * fold, spec.Width,
            spec.ChannelMultipliers, spec.ResBlocksPerLevel, emb, spec.NormGroups, spec.Dropout,
            spec.MidAttention, spec.AttentionHeads);
        RegisterComponents();
    }

    /// <param name="xt">(B, C, H, W) noisy images.</param>
    /// <param name="gamma">(B) signal variance g(t) of each sample.</param>
    /// <param name="cond">labels and coherence (B each).</param>
    public override Tensor forward(Tensor xt, Tensor gamma, Conditioning cond)
    {
        using var scope = NewDisposeScope();
        var emb = noiseLevelMlp.call(SinusoidalEmbedding.Embed(gamma * SinusoidalEmbedding.InputScale, sinusoidDim))
                  + condition.call(cond);
        var x = cond.SpatialMaps is null ? xt : cat([xt, cond.SpatialMaps], 1);
        if (pad > 0) x = nn.functional.pad(x, [pad, pad, pad, pad]);
        if (Spec.PatchSize > 1) x = nn.functional.pixel_unshuffle(x, Spec.PatchSize);
        var eps = unet.call(x, emb);
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
}
