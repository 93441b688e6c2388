using CadStream.Catalog;
using CadStream.Model.Networks.Conditions;
using CadStream.Model.Sampling;
using CadStream.Model.Training;
using static TorchSharp.torch;

namespace CadStream.Model.Conditions;

/// <summary>
/// A class model reads a label through an embedding that the coherence modulates (<see cref="ClassCoherenceEncoder"/>);
/// its "no condition" is the null class, one past the last (classic guidance's dropped label and unconditional branch).
/// </summary>
public sealed class ClassCondition(ModelSpec spec) : IModelCondition
{
    /// <summary>The label that means "no condition".</summary>
    public int NullClass => spec.NumClasses;

    public ConditionKind Kind => ConditionKind.Class;
    public int ContextDim => 0;

    public ConditionEncoder Encoder(int embeddingDim, int sinusoidDim) => new ClassCoherenceEncoder(spec.NumClasses, embeddingDim, sinusoidDim);

    public void Validate(SampleRequest request)
    {
        if (request.Prompt is not null || request.Negative is not null)
            throw new ArgumentException($"model {spec.Id} is conditioned on classes, not text: send a label, not a prompt");
        if (request.Label < 0 || request.Label >= spec.NumClasses) throw new ArgumentException($"label {request.Label} is outside 0..{spec.NumClasses - 1}");
    }

    public Conditioning Sampling(IReadOnlyList<SampleRequest> rows, IReadOnlyList<SampleRequest> guided, bool classicGuidance, Tensor coherence, Device device)
    {
        var labels = rows.Select(r => (long)r.Label).Concat(guided.Select(r => (long)(classicGuidance ? NullClass : r.Label))).ToArray();
        return new Conditioning(coherence, tensor(labels, device: device));
    }

    public void RequireTrainingInputs(TokenStates? emptyCaption) { }

    public IBatchCondition Training(TrainBatch batch, Device device, TokenStates? emptyCaption) => new Labels((long[])batch.Labels.Clone(), NullClass, device);

    /// <summary>A batch's labels, on the host until the network needs them.</summary>
    sealed class Labels(long[] labels, int nullClass, Device device) : IBatchCondition
    {
        public IBatchCondition Select(Tensor rows, int[] keep) => new Labels(keep.Select(i => labels[i]).ToArray(), nullClass, device);

        public IBatchCondition Drop(bool[] dropped)
        {
            for (int i = 0; i < labels.Length; i++)
                if (dropped[i]) labels[i] = nullClass;
            return this;
        }

        public Conditioning With(Tensor coherence) => new(coherence, tensor(labels, device: device));
    }
}
