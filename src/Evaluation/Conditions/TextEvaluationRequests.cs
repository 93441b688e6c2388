using CadStream.Catalog;
using CadStream.Catalog.Text;
using CadStream.Data.Captions;
using CadStream.Model.Sampling;

namespace CadStream.Evaluation.Conditions;

/// <summary>
/// A text model is asked for class k with its held-out prompts in turn (<see cref="CaptionGenerator.HeldOutPrompt"/>:
/// wordings no training caption uses), against the mode's default negative, and labelled k so the classifier's
/// agreement is the prompt accuracy.
/// </summary>
public sealed class TextEvaluationRequests(ModelSpec spec, ITextEncoder encoder) : IEvaluationRequests
{
    public SampleRequest For(int label, int count, double coherence, double guidance, long seed, int turn)
    {
        var states = encoder.TokenStatesOf([CaptionGenerator.HeldOutPrompt(label, turn), NegativePrompts.For(spec, null, seed)]);
        return SampleRequest.ForPrompt(states[0], states[1], count, coherence, guidance, seed, label: label);
    }
}
