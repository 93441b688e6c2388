using CadStream.Catalog;
using CadStream.Catalog.Text;
using CadStream.Data.Captions;
using CadStream.Evaluation.Conditions;
using CadStream.Host.Cli;
using CadStream.Model.Sampling;
using CadStream.Text;

namespace CadStream.Host.Commands.Conditions;

/// <summary>
/// Text models on the command line: each offline image gets a generated caption naming its (noisy) label, read
/// through the frozen MiniLM encoder (loaded on first use, with a caption cache); `sample --prompt TEXT`
/// (and <c>--negative-prompt</c>); held-out prompts for evaluation; `produce` adds a generated caption to each record.
/// </summary>
public sealed class TextCommandCondition(int cacheCapacity) : ICommandCondition
{
    private readonly LazyTextEncoder encoder = new(cacheCapacity);

    public ConditionKind Kind => ConditionKind.Text;

    public PairSet TrainingPairs(PairSet pairs, int seed, string textCache, CancellationToken cancel)
    {
        var captions = new CaptionGenerator(CaptionNoise.None, seed).Captions(pairs);
        var line = new ProgressLine();
        var bank = TokenBank.LoadOrBuild(encoder, captions, textCache, text => line.Update(text), line.Finish, cancel);
        return pairs.WithCaptions(new TokenBankCaptions(bank));
    }

    public TokenStates? EmptyCaption => encoder.TokenStatesOf("");

    public string? EncoderIdentity => encoder.Identity;

    public IEvaluationRequests EvaluationRequests(ModelSpec spec) => new TextEvaluationRequests(spec, encoder);

    public void CheckSampleOptions(ParsedArgs args, ModelSpec spec)
    {
        if (args.Has("label")) throw new UsageException($"{spec.Id} is a text model: say what to draw with --prompt, not --label");
        if (string.IsNullOrWhiteSpace(args.String("prompt")))
            throw new UsageException($"{spec.Id} is a text model: --prompt TEXT is required (e.g. --prompt \"a pair of ankle boots\")");
    }

    public (SampleRequest[] Jobs, string What) SampleJobs(ParsedArgs args, ModelSpec spec, int count, double coherence, double guidance, long seed)
    {
        var prompt = args.RequireString("prompt");
        var negative = NegativePrompts.For(spec, args.String("negative-prompt"), seed);
        return ([SampleRequest.ForPrompt(encoder.TokenStatesOf(prompt), encoder.TokenStatesOf(negative), count, coherence, guidance, seed)],
            $"\"{prompt}\" (negative \"{negative}\")");
    }

    public CaptionGenerator? StreamCaptions(CaptionNoise noise, int seed) => new(noise, seed);

    public void Dispose() => encoder.Dispose();
}
