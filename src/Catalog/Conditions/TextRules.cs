namespace CadStream.Catalog.Conditions;

/// <summary>A text model reads a caption's token states: the text settings must fit the encoder and the U-Net.</summary>
public sealed class TextRules : IConditionRules
{
    public static readonly TextRules Instance = new();

    public ConditionKind Kind => ConditionKind.Text;
    public bool ReadsText => true;

    // Text models may name their data set's classes for evaluation; they do not learn them.
    public string? Incompatibility(ModelSpec snapshot, ModelSpec configured) => null;

    public void Validate(ModelSpec spec, string where)
    {
        if (spec.TextWidth < 1) throw new ArgumentException($"{where}: TextWidth must be >= 1 (the text encoder's token width, 384 for MiniLM)");
        if (spec.TextTokens is < 2 or > 512) throw new ArgumentException($"{where}: TextTokens must be in 2..512 (got {spec.TextTokens})");
        if (spec.TextRegisters < 0) throw new ArgumentException($"{where}: TextRegisters must be >= 0");
        if (spec.TextLayers < 0) throw new ArgumentException($"{where}: TextLayers must be >= 0");
        if (spec.TextContextWidth < 0) throw new ArgumentException($"{where}: TextContextWidth must be >= 0 (0 = 4 x Width)");
        if (spec.ContextDim % spec.AttentionHeads != 0 || spec.ContextDim % 4 != 0)
            throw new ArgumentException($"{where}: the text context width {spec.ContextDim} must divide by 4 and by AttentionHeads ({spec.AttentionHeads})");
        var sides = spec.LevelSides;
        foreach (var r in spec.CrossAttentionResolutions)
            if (!sides.Contains(r))
                throw new ArgumentException($"{where}: CrossAttentionResolutions holds {r}, but the U-Net's feature maps are {string.Join(", ", sides)} wide");
        if (spec.Width * spec.ChannelMultipliers[^1] % spec.AttentionHeads != 0)
            throw new ArgumentException($"{where}: {spec.Width * spec.ChannelMultipliers[^1]} channels in the middle do not split into {spec.AttentionHeads} heads");
        for (int l = 0; l < sides.Length; l++)
            if (spec.CrossAttentionResolutions.Contains(sides[l]) && spec.Width * spec.ChannelMultipliers[l] % spec.AttentionHeads != 0)
                throw new ArgumentException($"{where}: {spec.Width * spec.ChannelMultipliers[l]} channels at side {sides[l]} do not split into {spec.AttentionHeads} heads");
    }
}
