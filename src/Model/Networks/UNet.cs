using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CadStream.Model.Networks;

/// <summary>
/// A DDPM-style U-Net for small images: residual blocks modulated by one embedding vector,
/// strided-conv downsampling, nearest upsampling, skip concatenation, self-attention in the
/// middle. Given a context sequence (text models), the residual blocks at the chosen feature-map
/// sides and the middle also cross-attend to it; without one (class models) it builds no such
/// layers, so their parameters and outputs are those of the plain U-Net. Knows nothing of noise
/// schedules, conditions or training.
/// </summary>
public sealed class UNet : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Conv2d convIn;
    private readonly ModuleList<ResidualBlock> downBlocks;
    private readonly ModuleList<Conv2d> downsamples;
    private readonly ResidualBlock mid1, mid2;
    private readonly nn.Module<Tensor, Tensor> midAttention;
    private readonly ModuleList<ResidualBlock> upBlocks;
    private readonly ModuleList<Conv2d> upsampleConvs;
    private readonly GroupNorm normOut;
    private readonly Conv2d convOut;
    // Cross-attention layers (empty for class models) and, per residual block, the index of the one
    // that follows it (-1: none).
    private readonly ModuleList<CrossAttention> downCross, midCross, upCross;
    private readonly int[] downCrossAt, upCrossAt;
    private readonly int levels, blocksPerLevel;

    /// <param name="contextDim">Width of the context sequence to cross-attend to; 0: none.</param>
    /// <param name="levelSides">Feature-map side of each level (level 0 first).</param>
    /// <param name="crossSides">Sides whose residual blocks cross-attend.</param>
    public UNet(int inChannels, int outChannels, int baseChannels, int[] multipliers, int blocksPerLevel,
                int embDim, int groups, double dropout, bool midAttention, int heads,
                int contextDim = 0, int[]? levelSides = null, int[]? crossSides = null) : base(nameof(UNet))
    {
        bool CrossAt(int level) => contextDim > 0 && levelSides is not null && crossSides is not null && crossSides.Contains(levelSides[level]);
        var downX = new List<CrossAttention>();
        var upX = new List<CrossAttention>();
        var downXAt = new List<int>();
        var upXAt = new List<int>();
        levels = multipliers.Length;
        this.blocksPerLevel = blocksPerLevel;
        convIn = Layers.Conv3(inChannels, baseChannels);

        var down = new List<ResidualBlock>();
        var downs = new List<Conv2d>();
        var skipChannels = new Stack<int>();
        skipChannels.Push(baseChannels);
        int ch = baseChannels;
        for (int level = 0; level < levels; level++)
        {
            int outCh = baseChannels * multipliers[level];
            for (int b = 0; b < blocksPerLevel; b++)
            {
                down.Add(new ResidualBlock(ch, outCh, embDim, groups, dropout));
                ch = outCh;
                skipChannels.Push(ch);
                downXAt.Add(CrossAt(level) ? downX.Count : -1);
                if (CrossAt(level)) downX.Add(new CrossAttention(ch, contextDim, heads, groups));
            }
            if (level < levels - 1)
            {
                downs.Add(Layers.Conv3(ch, ch, stride: 2));
                skipChannels.Push(ch);
            }
        }

        mid1 = new ResidualBlock(ch, ch, embDim, groups, dropout);
        this.midAttention = midAttention ? new SelfAttention(ch, heads, groups) : nn.Identity();
        mid2 = new ResidualBlock(ch, ch, embDim, groups, dropout);
        var midX = contextDim > 0 ? new[] { new CrossAttention(ch, contextDim, heads, groups) } : [];

        var up = new List<ResidualBlock>();
        var ups = new List<Conv2d>();
        for (int level = levels - 1; level >= 0; level--)
        {
            int outCh = baseChannels * multipliers[level];
            for (int b = 0; b <= blocksPerLevel; b++)
            {
                up.Add(new ResidualBlock(ch + skipChannels.Pop(), outCh, embDim, groups, dropout));
                ch = outCh;
                upXAt.Add(CrossAt(level) ? upX.Count : -1);
                if (CrossAt(level)) upX.Add(new CrossAttention(ch, contextDim, heads, groups));
            }
            if (level > 0) ups.Add(Layers.Conv3(ch, ch));
        }

        downBlocks = nn.ModuleList(down.ToArray());
        downsamples = nn.ModuleList(downs.ToArray());
        upBlocks = nn.ModuleList(up.ToArray());
        upsampleConvs = nn.ModuleList(ups.ToArray());
        downCross = nn.ModuleList(downX.ToArray());
        midCross = nn.ModuleList(midX);
        upCross = nn.ModuleList(upX.ToArray());
        downCrossAt = downXAt.ToArray();
        upCrossAt = upXAt.ToArray();
        normOut = Layers.Norm(groups, ch);
        convOut = Layers.ZeroInit(Layers.Conv3(ch, outChannels));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor emb) => Forward(x, emb, null, null);

    /// <param name="context">(B, L, D) sequence to cross-attend to, or null (class models).</param>
    /// <param name="contextMask">(B, L) true at tokens that take part.</param>
    public Tensor Forward(Tensor x, Tensor emb, Tensor? context, Tensor? contextMask)
    {
        bool cross = downCross.Count + midCross.Count + upCross.Count > 0;
        if (cross && (context is null || contextMask is null)) throw new ArgumentException("this U-Net cross-attends: it needs a context and its mask");
        Tensor Attend(ModuleList<CrossAttention> layers, int at, Tensor h) => at < 0 || !cross ? h : layers[at].call(h, context!, contextMask!);
        using var scope = NewDisposeScope();
        var h = convIn.call(x);
        var skips = new Stack<Tensor>();
        skips.Push(h);
        int block = 0;
        for (int level = 0; level < levels; level++)
        {
            for (int b = 0; b < blocksPerLevel; b++)
            {
                h = Attend(downCross, downCrossAt[block], downBlocks[block].call(h, emb));
                block++;
                skips.Push(h);
            }
            if (level < levels - 1)
            {
                h = downsamples[level].call(h);
                skips.Push(h);
            }
        }

        h = midAttention.call(mid1.call(h, emb));
        if (cross) h = midCross[0].call(h, context!, contextMask!);
        h = mid2.call(h, emb);

        block = 0;
        int upLevel = 0;
        for (int level = levels - 1; level >= 0; level--)
        {
            for (int b = 0; b <= blocksPerLevel; b++)
            {
                h = Attend(upCross, upCrossAt[block], upBlocks[block].call(cat([h, skips.Pop()], 1), emb));
                block++;
            }
            if (level > 0)
            {
                h = nn.functional.interpolate(h, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
                h = upsampleConvs[upLevel++].call(h);
            }
        }
        return convOut.call(nn.functional.silu(normOut.call(h))).MoveToOuterDisposeScope();
    }
}
