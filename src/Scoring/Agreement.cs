using CadStream.Catalog;

namespace CadStream.Scoring;

/// <summary>
/// What a scorer reads of a pair that came without a coherence: its image at the model's shape (8-bit) and the
/// conditions it carries (a label for class models, a caption for text models). The cluster's message implements it.
/// </summary>
public interface IPairToScore
{
    string Id { get; }
    byte[] Pixels { get; }
    int? Label { get; }
    string? Caption { get; }
}

/// <summary>
/// Where the coherence of a class pair that carries neither a coherence nor a raw score comes from: a
/// model of image-label agreement (the clean-label classifier for Fashion-MNIST). One instance per
/// scorer actor, used from that actor only.
/// </summary>
public interface ICoherenceModel : IDisposable
{
    /// <summary>Coherence in [0, 1] of each pair for <paramref name="model"/>, or null when this model of agreement does not know it.</summary>
    float[]? Score(ModelSpec model, IReadOnlyList<IPairToScore> pairs);
}

/// <summary>
/// Where the raw score of a text pair that carries neither a coherence nor a score comes from: a model of
/// image-caption agreement (<c>Scoring:TextAgreement</c>: the built-in classifier-and-text-encoder one, or
/// later a user's image-text model such as an ONNX CLIP). Its agreement is binned like any raw score, by
/// the model's <see cref="CoherenceTables"/> table. One instance per scorer actor, used from that actor only.
/// </summary>
public interface ITextAgreementModel : IDisposable
{
    /// <summary>
    /// Agreement in [-1, 1] (a cosine: 1 = the caption says what the image shows) of each pair's image and
    /// caption for <paramref name="model"/>, or null when this model of agreement does not know it.
    /// </summary>
    double[]? Agreement(ModelSpec model, IReadOnlyList<IPairToScore> pairs);
}
