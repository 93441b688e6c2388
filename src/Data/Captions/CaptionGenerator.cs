using System.Globalization;
using CadStream.Catalog;

namespace CadStream.Data.Captions;

/// <summary>What a generated caption says about its image's class.</summary>
public enum CaptionTruth
{
    /// <summary>Names the image's class.</summary>
    Correct,
    /// <summary>Names another class (noise).</summary>
    WrongClass,
    /// <summary>Names no class at all: web clutter only (noise).</summary>
    NoClass,
}

/// <summary>An attribute the caption mentions and the word it used.</summary>
public sealed record CaptionAttribute(ImageAttribute Attribute, string Word);

/// <summary>A caption with its truth, so evaluation can score it: the image's label and the class the caption names (null: none).</summary>
public sealed record GeneratedCaption(string Text, int TrueLabel, int? NamedLabel, CaptionTruth Truth, IReadOnlyList<CaptionAttribute> Attributes);

/// <summary>The noise protocol: shares of captions that name a wrong class and that name no class.</summary>
public sealed record CaptionNoise(double WrongClass, double NoClass)
{
    public static CaptionNoise None { get; } = new(0, 0);

    public void Validate()
    {
        if (!(WrongClass >= 0 && WrongClass <= 1)) throw new ArgumentException($"wrong-class share must be in [0, 1], got {WrongClass}");
        if (!(NoClass >= 0 && NoClass <= 1)) throw new ArgumentException($"no-class share must be in [0, 1], got {NoClass}");
        if (WrongClass + NoClass > 1) throw new ArgumentException($"wrong-class and no-class shares add up to {WrongClass + NoClass}, more than 1");
    }
}

/// <summary>
/// Captions for Fashion-MNIST images with varied wording (docs/captions.md): class names and their
/// synonyms, articles, attribute words measured from the pixels, templates, and web clutter (file
/// names, shop phrases, hashtags, codes, emoji). A share of captions names a wrong class and a share
/// names none (<see cref="CaptionNoise"/>). Each caption is a pure function of (seed, index, image,
/// label), so a stream can be regenerated in any order. Held-out wordings never appear here; they make
/// the evaluation prompts (<see cref="HeldOutPrompts"/>).
/// </summary>
public sealed class CaptionGenerator
{
    private readonly CaptionNoise noise;
    private readonly int seed;

    public int Classes { get; }

    public CaptionGenerator(CaptionNoise noise, int seed)
    {
        ArgumentNullException.ThrowIfNull(noise);
        noise.Validate();
        this.noise = noise;
        this.seed = seed;
        Classes = CaptionVocabulary.TrainingNames.Count;
    }

    /// <summary>The caption of a 28x28 Fashion-MNIST image.</summary>
    public GeneratedCaption Generate(ReadOnlySpan<byte> pixels, int label, long index) =>
        Generate(pixels, FashionMnist.Side, FashionMnist.Side, label, index);

    /// <summary>The caption of sample <paramref name="index"/>, a grey image of width x height bytes labelled <paramref name="label"/>.</summary>
    public GeneratedCaption Generate(ReadOnlySpan<byte> pixels, int width, int height, int label, long index)
    {
        if (label < 0 || label >= Classes) throw new ArgumentOutOfRangeException(nameof(label), $"label {label} is outside 0..{Classes - 1}");
        var rng = new Random(SampleSeed(seed, index));
        var measured = ImageMeasures.Measure(pixels, width, height).Attributes();

        double u = rng.NextDouble();
        if (u < noise.WrongClass + noise.NoClass && u >= noise.WrongClass)
            return new GeneratedCaption(Clutter(rng, 1 + rng.Next(4)), label, null, CaptionTruth.NoClass, []);

        int named = label;
        if (u < noise.WrongClass)
        {
            int other = rng.Next(Classes - 1); // uniform over the other classes
            named = other >= label ? other + 1 : other;
        }
        var name = Pick(rng, CaptionVocabulary.TrainingNames[named]);
        var attributes = PickAttributes(rng, measured);
        var description = string.Join(' ', attributes.Select(a => a.Word).Append(name.Text));
        var text = Fill(Pick(rng, CaptionVocabulary.TrainingTemplates), Article(rng, name, description), description);

        // Web clutter around it: sometimes before, often after.
        if (rng.NextDouble() < 0.3) text = Clutter(rng, 1) + " " + text;
        int after = rng.Next(3);
        if (after > 0) text = text + " " + Clutter(rng, after);
        if (rng.NextDouble() < 0.4) text = char.ToUpperInvariant(text[0]) + text[1..];
        return new GeneratedCaption(text, label, named, named == label ? CaptionTruth.Correct : CaptionTruth.WrongClass, attributes);
    }

    /// <summary>
    /// The caption of each pair of a set (pair i is sample i), naming <paramref name="named"/>[i] (a noisy label, say;
    /// default the pair's own label): offline text training sets are made of these.
    /// </summary>
    public string[] Captions(PairSet pairs, IReadOnlyList<int>? named = null)
    {
        var captions = new string[pairs.Count];
        for (int i = 0; i < pairs.Count; i++)
            captions[i] = Generate(pairs.Pixels.AsSpan(i * pairs.ImageBytes, pairs.ImageBytes), pairs.Width, pairs.Height, named?[i] ?? pairs.Labels[i], i).Text;
        return captions;
    }

    /// <summary>
    /// The one way a class is asked for in words it was never trained on: its held-out prompts in turn
    /// (<paramref name="turn"/> modulo their count). Evaluation asks chunk by chunk, so the prompts rotate; a
    /// live quality reading asks once per class (turn 0), so its readings compare like with like.
    /// </summary>
    public static string HeldOutPrompt(int label, int turn)
    {
        var prompts = HeldOutPrompts(label);
        return prompts[turn % prompts.Count];
    }

    /// <summary>
    /// Evaluation prompts for a class: every held-out template with every held-out name of the class,
    /// with a fitting article, no attributes and no clutter. Fixed order.
    /// </summary>
    public static IReadOnlyList<string> HeldOutPrompts(int label)
    {
        if (label < 0 || label >= CaptionVocabulary.HeldOutNames.Count)
            throw new ArgumentOutOfRangeException(nameof(label), $"label {label} is outside 0..{CaptionVocabulary.HeldOutNames.Count - 1}");
        var prompts = new List<string>();
        foreach (var template in CaptionVocabulary.HeldOutTemplates)
            foreach (var name in CaptionVocabulary.HeldOutNames[label])
                prompts.Add(Fill(template, name.Plural ? "a pair of " : IndefiniteArticle(name.Text) + " ", name.Text));
        return prompts;
    }

    /// <summary>A per-sample seed from (seed, index) by SplitMix64 mixing, so samples do not depend on each other's order.</summary>
    static int SampleSeed(int seed, long index)
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)index + 0x632BE59BD9B4E019UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return unchecked((int)(z ^ (z >> 31)));
    }

    static T Pick<T>(Random rng, IReadOnlyList<T> items) => items[rng.Next(items.Count)];

    /// <summary>
    /// Each measured attribute is said half the time; when more than two are, randomly chosen ones are
    /// dropped down to two. Said ones keep the measured order (size, fill, shape, brightness).
    /// </summary>
    static IReadOnlyList<CaptionAttribute> PickAttributes(Random rng, IReadOnlyList<ImageAttribute> measured)
    {
        var said = new List<CaptionAttribute>(measured.Count);
        foreach (var a in measured)
        {
            // Always draw the word, so the random sequence does not depend on what was said.
            bool say = rng.NextDouble() < 0.5;
            var word = Pick(rng, CaptionVocabulary.AttributeWords[a]);
            if (say) said.Add(new CaptionAttribute(a, word));
        }
        while (said.Count > 2) said.RemoveAt(rng.Next(said.Count));
        return said;
    }

    /// <summary>An article for the description: a/an/the/none for one thing, a pair of/the/none for a pair.</summary>
    static string Article(Random rng, ClassName name, string description)
    {
        int k = rng.Next(4);
        if (name.Plural) return k switch { 0 => "a pair of ", 1 => "the ", _ => "" };
        return k switch { 0 or 1 => IndefiniteArticle(description) + " ", 2 => "the ", _ => "" };
    }

    static string IndefiniteArticle(string next) => "aeiou".Contains(char.ToLowerInvariant(next[0])) ? "an" : "a";

    static string Fill(string template, string article, string description) =>
        template.Replace("{a}", article).Replace("{d}", description);

    /// <summary>Web clutter: <paramref name="count"/> pieces of file names, shop phrases, hashtags, codes and emoji.</summary>
    static string Clutter(Random rng, int count)
    {
        var parts = new string[count];
        for (int i = 0; i < count; i++)
            parts[i] = rng.Next(5) switch
            {
                0 => FileName(rng),
                1 => Pick(rng, CaptionVocabulary.ShopPhrases),
                2 => Pick(rng, CaptionVocabulary.Hashtags),
                3 => Code(rng),
                _ => Pick(rng, CaptionVocabulary.Emoji),
            };
        return string.Join(' ', parts);
    }

    static string FileName(Random rng)
    {
        string[] stems = ["IMG_", "DSC_", "DSC0", "photo_", "image-", "product_", "PXL_2024"];
        string[] extensions = [".jpg", ".JPG", ".jpeg", ".png", ".webp"];
        return Pick(rng, stems) + rng.Next(1000, 100000).ToString(CultureInfo.InvariantCulture) + Pick(rng, extensions);
    }

    static string Code(Random rng)
    {
        string[] forms = ["SKU {0}", "item #{0}", "ref. {0}", "lot {0}"];
        return string.Format(CultureInfo.InvariantCulture, Pick(rng, forms), rng.Next(100, 100000));
    }
}
