using CadStream.Catalog.Text;

namespace CadStream.Scoring;

/// <summary>
/// The built-in image-caption agreement for a labelled data set, where no image-text model is at
/// hand: agreement = sum_k p(k | image) * cos(text(caption), text(description k)). A classifier gives
/// p; the text encoder compares the caption with one short description per class. Ranges over
/// [-1, 1]; high when the caption talks about what the classifier sees.
/// </summary>
public sealed class CaptionAgreement
{
    private readonly ITextEncoder encoder;
    private readonly float[] descriptions; // classes x width, unit rows

    public int Classes { get; }
    /// <summary>The encoder the descriptions were encoded with (scores compare only under the same one).</summary>
    public string EncoderIdentity => encoder.Identity;

    /// <param name="classDescriptions">One short description per class, in class order.</param>
    public CaptionAgreement(ITextEncoder encoder, IReadOnlyList<string> classDescriptions)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(classDescriptions);
        if (classDescriptions.Count < 1) throw new ArgumentException("need at least one class description");
        for (int k = 0; k < classDescriptions.Count; k++)
            if (string.IsNullOrWhiteSpace(classDescriptions[k])) throw new ArgumentException($"class {k} has an empty description");
        this.encoder = encoder;
        Classes = classDescriptions.Count;
        descriptions = encoder.Encode(classDescriptions).Pooled;
    }

    /// <summary>Agreement of each caption with its image's class probabilities (captions.Count x Classes, row-major).</summary>
    public double[] Score(IReadOnlyList<string> captions, ReadOnlySpan<float> probabilities)
    {
        ArgumentNullException.ThrowIfNull(captions);
        if (probabilities.Length != captions.Count * Classes)
            throw new ArgumentException($"expected {captions.Count}x{Classes} probabilities, got {probabilities.Length}");
        var text = encoder.Encode(captions);
        var scores = new double[captions.Count];
        for (int i = 0; i < scores.Length; i++)
            scores[i] = Agreement(probabilities.Slice(i * Classes, Classes), text.PooledOf(i), descriptions, encoder.Width);
        return scores;
    }

    /// <summary>
    /// sum_k p[k] * cos(caption, descriptions[k]); <paramref name="descriptions"/> holds p.Length rows of
    /// <paramref name="width"/> values. Pure: no encoder, no classifier.
    /// </summary>
    public static double Agreement(ReadOnlySpan<float> p, ReadOnlySpan<float> caption, ReadOnlySpan<float> descriptions, int width)
    {
        if (caption.Length != width) throw new ArgumentException($"caption vector has {caption.Length} values, width is {width}");
        if (descriptions.Length != p.Length * width)
            throw new ArgumentException($"expected {p.Length} descriptions of width {width} ({p.Length * width} values), got {descriptions.Length}");
        double sum = 0, total = 0;
        for (int k = 0; k < p.Length; k++)
        {
            if (!(p[k] >= 0) || float.IsInfinity(p[k])) throw new ArgumentException($"probability {k} is {p[k]}; expected a finite value >= 0");
            total += p[k];
            if (p[k] > 0) sum += p[k] * TextVectors.Cosine(caption, descriptions.Slice(k * width, width));
        }
        // Probabilities from a softmax sum to 1 up to rounding; anything else is a caller's mistake.
        if (Math.Abs(total - 1) > 1e-3) throw new ArgumentException($"probabilities sum to {total}, expected 1");
        return sum;
    }
}
