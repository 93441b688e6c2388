using CadStream.Catalog;
using CadStream.Catalog.Judging;
using CadStream.Data;
using CadStream.Data.Captions;

namespace CadStream.Scoring;

/// <summary>
/// Text models of Fashion-MNIST are asked for each class with its first held-out prompt (turn 0 of
/// <see cref="CaptionGenerator.HeldOutPrompt"/>: a wording no generated training caption uses, the same at every
/// reading so readings compare), so their live accuracy is a prompt accuracy; other data sets with their class name.
/// </summary>
public sealed class HeldOutQualityPrompts : IQualityPrompts
{
    public string For(ModelSpec model, int label) => model.Classes.SequenceEqual(FashionMnist.ClassNames)
        ? CaptionGenerator.HeldOutPrompt(label, turn: 0)
        : $"a photo of a {model.Classes[label].ToLowerInvariant()}";
}
