using CadStream.Model.Sampling;

namespace CadStream.Evaluation.Conditions;

/// <summary>A class model is asked for a class by its label.</summary>
public sealed class ClassEvaluationRequests : IEvaluationRequests
{
    public SampleRequest For(int label, int count, double coherence, double guidance, long seed, int turn) =>
        new(label, count, coherence, guidance, seed);
}
