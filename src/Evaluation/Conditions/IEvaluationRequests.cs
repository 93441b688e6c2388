using CadStream.Catalog;
using CadStream.Catalog.Text;
using CadStream.Model.Sampling;

namespace CadStream.Evaluation.Conditions;

/// <summary>
/// How evaluation asks a model for a class, per condition kind: by its label, or in words it never trained on
/// (a text model's held-out prompts), labelled with the class either way so that accuracy reads the same. One
/// implementation per kind, chosen by <see cref="EvaluationRequests.For"/>.
/// </summary>
public interface IEvaluationRequests
{
    /// <summary>The request for <paramref name="count"/> images of class <paramref name="label"/>; <paramref name="turn"/> counts a class's requests (chunks).</summary>
    SampleRequest For(int label, int count, double coherence, double guidance, long seed, int turn);
}

/// <summary>The one place evaluation picks a kind's unit.</summary>
public static class EvaluationRequests
{
    /// <param name="encoder">The frozen text encoder a text model's prompts go through (the one its snapshot learnt from).</param>
    public static IEvaluationRequests For(ModelSpec spec, ITextEncoder? encoder = null) => spec.Kind switch
    {
        ConditionKind.Class => new ClassEvaluationRequests(),
        ConditionKind.Text => new TextEvaluationRequests(spec, encoder ?? throw new ArgumentException($"{spec.Id} is a text model: its evaluation needs the text encoder")),
        var kind => throw new NotSupportedException(ConditionKinds.NotAvailable(kind)),
    };
}
