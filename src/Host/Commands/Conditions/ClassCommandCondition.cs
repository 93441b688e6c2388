using CadStream.Catalog;
using CadStream.Data.Captions;
using CadStream.Evaluation.Conditions;
using CadStream.Host.Cli;
using CadStream.Model.Sampling;

namespace CadStream.Host.Commands.Conditions;

/// <summary>Class models on the command line: labels as they are, `sample --label CLASS` (or all classes, one row each).</summary>
public sealed class ClassCommandCondition : ICommandCondition
{
    public ConditionKind Kind => ConditionKind.Class;

    public PairSet TrainingPairs(PairSet pairs, int seed, string textCache, CancellationToken cancel) => pairs;

    public TokenStates? EmptyCaption => null;

    public string? EncoderIdentity => null;

    public IEvaluationRequests EvaluationRequests(ModelSpec spec) => new ClassEvaluationRequests();

    public void CheckSampleOptions(ParsedArgs args, ModelSpec spec)
    {
        if (args.Has("prompt") || args.Has("negative-prompt"))
            throw new UsageException($"{spec.Id} is a class model: name a class with --label, not --prompt");
    }

    public (SampleRequest[] Jobs, string What) SampleJobs(ParsedArgs args, ModelSpec spec, int count, double coherence, double guidance, long seed)
    {
        var names = spec.Classes;
        var labelArg = args.RequireString("label");
        int[] labels;
        if (labelArg.Equals("all", StringComparison.OrdinalIgnoreCase)) labels = Enumerable.Range(0, names.Length).ToArray();
        else
        {
            try { labels = [ClassNames.Parse(labelArg, names)]; }
            catch (ArgumentException e) { throw new UsageException($"--label: {e.Message}"); }
        }
        return (labels.Select(l => new SampleRequest(l, count, coherence, guidance, seed)).ToArray(), string.Join(", ", labels.Select(l => names[l])));
    }

    public CaptionGenerator? StreamCaptions(CaptionNoise noise, int seed) => null;

    public void Dispose() { }
}
