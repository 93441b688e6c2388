using CadStream.Catalog;
using CadStream.Model.Networks.Conditions;
using CadStream.Model.Sampling;
using CadStream.Model.Training;
using static TorchSharp.torch;

namespace CadStream.Model.Conditions;

/// <summary>
/// One condition kind inside the model: the encoder its network reads the condition with, what a sampling
/// request of it must carry, how the images of a sampling call and the pairs of a training batch are
/// conditioned, and what "no condition" is for classic guidance. One implementation per kind, chosen by
/// <see cref="ModelConditions.For"/>; the denoiser, the pipeline and the trainer never look at the kind.
/// </summary>
public interface IModelCondition
{
    ConditionKind Kind { get; }

    /// <summary>Width of the context sequence the U-Net cross-attends to; 0: it attends to none.</summary>
    int ContextDim { get; }

    /// <summary>Builds the encoder of the condition and the coherence (under the caller's seeded generator).</summary>
    ConditionEncoder Encoder(int embeddingDim, int sinusoidDim);

    /// <summary>Throws <see cref="ArgumentException"/> when the request does not carry this kind's condition as the model reads it.</summary>
    void Validate(SampleRequest request);

    /// <summary>
    /// The condition of one network call: every image of <paramref name="rows"/> (one entry per image), then the second
    /// guidance branch of <paramref name="guided"/> (one entry per guided image): the same condition at c = 0 for CA-CFG,
    /// "no condition" for classic guidance; the text kind reads the negative caption in both.
    /// </summary>
    Conditioning Sampling(IReadOnlyList<SampleRequest> rows, IReadOnlyList<SampleRequest> guided, bool classicGuidance, Tensor coherence, Device device);

    /// <summary>
    /// Throws <see cref="ArgumentException"/> when a trainer of this model lacks what the kind's classic-guidance dropout
    /// needs (<paramref name="emptyCaption"/>: the text kind's unconditional caption).
    /// </summary>
    void RequireTrainingInputs(TokenStates? emptyCaption);

    /// <summary>The batch's condition on <paramref name="device"/>, ready to be filtered, dropped and paired with coherence.</summary>
    IBatchCondition Training(TrainBatch batch, Device device, TokenStates? emptyCaption);
}

/// <summary>A training batch's condition on the device, row by row, as one kind carries it.</summary>
public interface IBatchCondition
{
    /// <summary>The rows <paramref name="keep"/> (as the tensor <paramref name="rows"/> on the device), in that order.</summary>
    IBatchCondition Select(Tensor rows, int[] keep);

    /// <summary>The dropped rows become "no condition" (classic classifier-free guidance's unconditional input).</summary>
    IBatchCondition Drop(bool[] dropped);

    /// <summary>The network's input: this condition with the rows' coherence.</summary>
    Conditioning With(Tensor coherence);
}

/// <summary>The one place the model picks a kind's unit.</summary>
public static class ModelConditions
{
    public static IModelCondition For(ModelSpec spec) => spec.Kind switch
    {
        ConditionKind.Class => new ClassCondition(spec),
        ConditionKind.Text => new TextCondition(spec),
        var kind => throw new NotSupportedException(ConditionKinds.NotAvailable(kind)),
    };
}
