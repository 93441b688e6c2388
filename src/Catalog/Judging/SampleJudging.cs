
namespace CadStream.Catalog.Judging;

/// <summary>
/// Judges generated images: the share that a classifier trained on clean labels assigns to the class
/// they were asked for. One instance serves the whole node; calls come one at a time.
/// </summary>
public interface ISampleJudge
{
    /// <summary>
    /// Accuracy of <paramref name="count"/> images (8-bit, the model's shape) against <paramref name="labels"/>,
    /// or null when this judge does not know the model (another data set or shape) or is not ready yet.
    /// </summary>
    double? Accuracy(ModelSpec model, byte[] pixels, int count, IReadOnlyList<int> labels);

    /// <summary>Whether it can judge now; a judge that is still being made (a classifier training) says how far along it is.</summary>
    JudgeState State => JudgeState.Available;
}

/// <summary>Where a sample judge stands.</summary>
public enum JudgeReadiness { Ready, Preparing, Failed }

/// <summary>Where a sample judge stands, for /v1/status, the page and the console.</summary>
/// <param name="Text">For people: "ready", "training 40 %, about 01:12 left", "failed: ...".</param>
/// <param name="Progress">0..1 while it is being prepared, when known.</param>
public sealed record JudgeState(JudgeReadiness Readiness, string Text, double? Progress = null)
{
    public static readonly JudgeState Available = new(JudgeReadiness.Ready, "ready", 1);

    public bool Ready => Readiness == JudgeReadiness.Ready;
}

/// <summary>The prompt a text model is asked with for a class when its live quality is measured.</summary>
public interface IQualityPrompts
{
    /// <summary>A prompt naming class <paramref name="label"/> of <paramref name="model"/>'s data set.</summary>
    string For(ModelSpec model, int label);
}
