using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CadStream.Model.Networks;

/// <summary>
/// A DDPM-style U-Net for small images: residual blocks modulated by one embedding vector,
/// strided-conv downsampling, nearest upsampling, skip concatenation, self-attention in the
/// middle. Knows nothing of noise schedules, conditions or training.
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
    private readonly int levels, blocksPerLevel;

    public UNet(int inChannels, int outChannels, int baseChannels, int[] multipliers, int blocksPerLevel,
                int embDim, int groups, double dropout, bool midAttention, int heads) : base(nameof(UNet))
    {
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

        var up = new List<ResidualBlock>();
        var ups = new List<Conv2d>();
        for (int level = levels - 1; level >= 0; level--)
        {
            int outCh = baseChannels * multipliers[level];
            for (int b = 0; b <= blocksPerLevel; b++)
            {
                up.Add(new ResidualBlock(ch + skipChannels.Pop(), outCh, embDim, groups, dropout));
                ch = outCh;
            }
            if (level > 0) ups.Add(Layers.Conv3(ch, ch));
        }

        downBlocks = nn.ModuleList(down.ToArray());
        downsamples = nn.ModuleList(downs.ToArray());
        upBlocks = nn.ModuleList(up.ToArray());
        upsampleConvs = nn.ModuleList(ups.ToArray());
        normOut = Layers.Norm(groups, ch);
        convOut = Layers.ZeroInit(Layers.Conv3(ch, outChannels));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor emb)
    {
        using var scope = NewDisposeScope();
        var h = convIn.call(x);
        var skips = new Stack<Tensor>();
        skips.Push(h);
        int block = 0;
        for (int level = 0; level < levels; level++)
        {
            for (int b = 0; b < blocksPerLevel; b++)
            {
                h = downBlocks[block++].call(h, emb);
                skips.Push(h);
            }
            if (level < levels - 1)
            {
                h = downsamples[level].call(h);
                skips.Push(h);
            }
        }

        h = mid2.call(midAttention.call(mid1.call(h, emb)), emb);

        block = 0;
        int upLevel = 0;
        for (int level = levels - 1; level >= 0; level--)
        {
            for (int b = 0; b <= blocksPerLevel; b++)
                h = upBlocks[block++].call(cat([h, skips.Pop()], 1), emb);
            if (level > 0)
            {
                h = nn.functional.interpolate(h, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
                h = upsampleConvs[upLevel++].call(h);
            }
        }
        return convOut.call(nn.functional.silu(normOut.call(h))).MoveToOuterDisposeScope();
    }
}
