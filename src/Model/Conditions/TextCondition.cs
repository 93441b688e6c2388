using CadStream.Catalog;
using CadStream.Model.Networks.Conditions;
using CadStream.Model.Sampling;
using CadStream.Model.Training;
using static TorchSharp.torch;

namespace CadStream.Model.Conditions;

/// <summary>
/// A text model reads a caption's token states (from a frozen encoder outside this project) through
/// <see cref="TextCoherenceEncoder"/> and cross-attention; its "no condition" is a caption too: the empty one
/// for classic guidance's dropout, and a request's negative caption for its second branch.
/// </summary>
public sealed class TextCondition(ModelSpec spec) : IModelCondition
{
    public ConditionKind Kind => ConditionKind.Text;
    public int ContextDim => spec.ContextDim;

    public ConditionEncoder Encoder(int embeddingDim, int sinusoidDim) => new TextCoherenceEncoder(spec);

    public void Validate(SampleRequest request)
    {
        if (request.Prompt is null) throw new ArgumentException($"model {spec.Id} is conditioned on text: send a prompt, not a label");
        Check(request.Prompt, "prompt");
        if (request.Guidance != 0)
        {
            if (request.Negative is null) throw new ArgumentException("a guided text request needs the negative caption's token states (its second branch)");
            Check(request.Negative, "negative prompt");
        }
    }

    void Check(TokenStates t, string what)
    {
        if (t.Width != spec.TextWidth) throw new ArgumentException($"the {what}'s token states are {t.Width} wide; model {spec.Id} reads {spec.TextWidth}");
        if (t.Tokens > spec.TextTokens) throw new ArgumentException($"the {what} has {t.Tokens} tokens; model {spec.Id} takes at most {spec.TextTokens}");
    }

    public Conditioning Sampling(IReadOnlyList<SampleRequest> rows, IReadOnlyList<SampleRequest> guided, bool classicGuidance, Tensor coherence, Device device)
    {
        var (states, mask) = TokenTensors.Pad(rows.Select(r => r.Prompt!).Concat(guided.Select(r => r.Negative!)).ToList(), device);
        return new Conditioning(coherence, Tokens: states, TokenMask: mask);
    }

    public void RequireTrainingInputs(TokenStates? emptyCaption)
    {
        if (!spec.Mode.UsesClassicGuidance() || spec.CfgDropout <= 0) return;
        if (emptyCaption is null)
            throw new ArgumentException($"model {spec.Id}: a text model in mode {spec.Mode.Name()} drops captions to the empty one; give the empty caption's token states");
        if (emptyCaption.Width != spec.TextWidth)
            throw new ArgumentException($"model {spec.Id}: the empty caption's token states are {emptyCaption.Width} wide, the model reads {spec.TextWidth}");
    }

    public IBatchCondition Training(TrainBatch batch, Device device, TokenStates? emptyCaption)
    {
        if (batch.Tokens is null || batch.TokenMask is null) throw new ArgumentException($"model {spec.Id} learns from text: the batch needs token states and their mask");
        return new Captions(batch.Tokens.to(ScalarType.Float32, device), batch.TokenMask.to(ScalarType.Bool, device), emptyCaption, device);
    }

    /// <summary>A batch's captions as padded token states (B, T, width) and their mask (B, T).</summary>
    sealed class Captions(Tensor tokens, Tensor mask, TokenStates? empty, Device device) : IBatchCondition
    {
        public IBatchCondition Select(Tensor rows, int[] keep) => new Captions(tokens.index_select(0, rows), mask.index_select(0, rows), empty, device);

        /// <summary>The dropped rows' captions become the empty caption (padded like the rest).</summary>
        public IBatchCondition Drop(bool[] dropped)
        {
            if (!dropped.Any(d => d)) return this;
            var (states, widened) = TokenTensors.Widen(tokens, mask, empty!.Tokens);
            var (nullStates, nullMask) = TokenTensors.Pad([empty], device, (int)states.shape[1]);
            var drop = tensor(dropped, device: device);
            return new Captions(where(drop.reshape(-1, 1, 1), nullStates, states), where(drop.reshape(-1, 1), nullMask, widened), empty, device);
        }

        public Conditioning With(Tensor coherence) => new(coherence, Tokens: tokens, TokenMask: mask);
    }
}
