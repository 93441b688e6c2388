using CadStream.Catalog;
using CadStream.Data.Captions;
using CadStream.Evaluation.Conditions;
using CadStream.Host.Cli;
using CadStream.Model.Sampling;

namespace CadStream.Host.Commands.Conditions;

/// <summary>
/// One condition kind on the command line: the offline training set of `train` and `experiment`, what their trainer
/// is built with, `sample`'s options (<c>--label</c>, or <c>--prompt</c> and <c>--negative-prompt</c>), how `eval`
/// asks for a class, and what `produce` adds to each record. One implementation per kind, chosen by
/// <see cref="CommandConditions.For"/>; it owns what it loads (a text encoder), so dispose it.
/// </summary>
public interface ICommandCondition : IDisposable
{
    ConditionKind Kind { get; }

    /// <summary>The pairs as a model of this kind trains on them offline (text: a caption per image naming its label, its token states cached in <paramref name="textCache"/>).</summary>
    PairSet TrainingPairs(PairSet pairs, int seed, string textCache, CancellationToken cancel);

    /// <summary>The empty caption a text model in a classic-guidance mode drops captions to; null for other kinds.</summary>
    TokenStates? EmptyCaption { get; }

    /// <summary>The identity of the text encoder a model of this kind learns from (its snapshots name it); null: it reads no text.</summary>
    string? EncoderIdentity { get; }

    /// <summary>How evaluation asks a model of this kind for a class.</summary>
    IEvaluationRequests EvaluationRequests(ModelSpec spec);

    /// <summary>Throws <see cref="UsageException"/> when `sample` got an option of another kind, or lacks this kind's.</summary>
    void CheckSampleOptions(ParsedArgs args, ModelSpec spec);

    /// <summary>`sample`'s requests and, for the console line, what they ask for.</summary>
    (SampleRequest[] Jobs, string What) SampleJobs(ParsedArgs args, ModelSpec spec, int count, double coherence, double guidance, long seed);

    /// <summary>What `produce` writes into each record besides its label: null, or captions made with <paramref name="noise"/>.</summary>
    CaptionGenerator? StreamCaptions(CaptionNoise noise, int seed);
}

/// <summary>The one place the command line picks a kind's unit.</summary>
public static class CommandConditions
{
    /// <param name="textCacheCapacity">Captions a text encoder keeps (an experiment reads each caption set several times).</param>
    public static ICommandCondition For(ConditionKind kind, int textCacheCapacity = 4096) => kind switch
    {
        ConditionKind.Class => new ClassCommandCondition(),
        ConditionKind.Text => new TextCommandCondition(textCacheCapacity),
        _ => throw new UsageException(ConditionKinds.NotAvailable(kind)),
    };
}
