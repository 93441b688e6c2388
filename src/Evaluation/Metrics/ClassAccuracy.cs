namespace CadStream.Evaluation.Metrics;

/// <summary>Accuracy of class-conditional generation, as judged by a classifier.</summary>
/// <param name="Overall">Correct / total over all samples (NaN when there are none).</param>
/// <param name="PerClass">Per requested class: correct / requested (NaN for a class never requested).</param>
/// <param name="Requested">How many samples requested each class.</param>
/// <param name="Correct">How many of those the classifier assigned to that class.</param>
public sealed record ClassAccuracyResult(double Overall, double[] PerClass, int[] Requested, int[] Correct)
{
    /// <summary>Mean of <see cref="PerClass"/> over the classes that were requested (balanced accuracy).</summary>
    public double MeanPerClass
    {
        get
        {
            double sum = 0;
            int count = 0;
            foreach (double a in PerClass)
            {
                if (double.IsNaN(a)) continue;
                sum += a;
                count++;
            }
            return count == 0 ? double.NaN : sum / count;
        }
    }
}

public static class ClassAccuracy
{
    /// <summary>
    /// Compares requested labels with the classifier's predictions. Requested labels must be in
    /// [0, numClasses); a prediction outside that range (e.g. -1 for "rejected") counts as wrong.
    /// </summary>
    public static ClassAccuracyResult Compute(ReadOnlySpan<int> requested, ReadOnlySpan<int> predicted, int numClasses)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numClasses);
        if (requested.Length != predicted.Length)
            throw new ArgumentException($"{requested.Length} requested labels but {predicted.Length} predictions.", nameof(predicted));

        var counts = new int[numClasses];
        var correct = new int[numClasses];
        int totalCorrect = 0;
        for (int i = 0; i < requested.Length; i++)
        {
            int c = requested[i];
            if ((uint)c >= (uint)numClasses)
                throw new ArgumentOutOfRangeException(nameof(requested), $"Requested label {c} at index {i} is outside [0, {numClasses}).");
            counts[c]++;
            if (predicted[i] == c)
            {
                correct[c]++;
                totalCorrect++;
            }
        }

        var perClass = new double[numClasses];
        for (int c = 0; c < numClasses; c++)
            perClass[c] = counts[c] == 0 ? double.NaN : (double)correct[c] / counts[c];
        double overall = requested.Length == 0 ? double.NaN : (double)totalCorrect / requested.Length;
        return new ClassAccuracyResult(overall, perClass, counts, correct);
    }
}
