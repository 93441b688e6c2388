namespace CadStream.Data.Captions;

/// <summary>A way to name a class; plural names ("trousers", "sneakers") take "a pair of", not "a".</summary>
public sealed record ClassName(string Text, bool Plural = false);

/// <summary>
/// The words the Fashion-MNIST caption generator draws from (docs/captions.md). Training wordings and
/// held-out wordings are disjoint: no held-out name or template ever appears in a training caption,
/// so evaluation prompts test wording the model never saw. Clutter never names a class.
/// </summary>
public static class CaptionVocabulary
{
    /// <summary>Names of each class used in training captions, in class order.</summary>
    public static IReadOnlyList<IReadOnlyList<ClassName>> TrainingNames { get; } =
    [
        [new("t-shirt"), new("tee"), new("tshirt"), new("short-sleeved top"), new("crew-neck tee"), new("basic top")],
        [new("trousers", true), new("pants", true), new("jeans", true), new("slacks", true), new("chinos", true)],
        [new("pullover"), new("sweater"), new("jumper"), new("knit sweater"), new("sweatshirt")],
        [new("dress"), new("gown"), new("frock"), new("summer dress"), new("midi dress")],
        [new("coat"), new("jacket"), new("overcoat"), new("parka"), new("winter coat")],
        [new("sandals", true), new("sandal"), new("flip-flops", true), new("strappy sandals", true), new("slides", true)],
        [new("shirt"), new("button-down shirt"), new("blouse"), new("flannel shirt"), new("oxford shirt")],
        [new("sneakers", true), new("sneaker"), new("trainers", true), new("running shoes", true), new("kicks", true)],
        [new("bag"), new("handbag"), new("tote bag"), new("purse"), new("shoulder bag")],
        [new("ankle boots", true), new("ankle boot"), new("short boots", true), new("booties", true), new("chelsea boots", true)],
    ];

    /// <summary>Names kept out of training, for evaluation prompts.</summary>
    public static IReadOnlyList<IReadOnlyList<ClassName>> HeldOutNames { get; } =
    [
        [new("camisole"), new("tank top")],
        [new("leggings", true), new("joggers", true)],
        [new("hoodie"), new("turtleneck")],
        [new("sundress"), new("shift dress")],
        [new("anorak"), new("trench coat")],
        [new("gladiator sandals", true), new("huaraches", true)],
        [new("polo shirt"), new("long-sleeved blouse")],
        [new("tennis shoes", true), new("athletic shoes", true)],
        [new("backpack"), new("clutch")],
        [new("low boots", true), new("lace-up boots", true)],
    ];

    /// <summary>Training templates: {a} is an article with its space (may be empty), {d} the attributes and class name.</summary>
    public static IReadOnlyList<string> TrainingTemplates { get; } =
    [
        "{a}{d}", "{d}", "photo of {a}{d}", "{a}{d}, studio shot", "{d} for sale", "buy {d} online", "{a}{d} for women",
        "{a}{d} for men", "women's {d}", "my favourite {d}", "vintage {d}", "brand new {d}", "{d}, one size", "{a}{d} in the catalogue",
    ];

    /// <summary>Templates kept out of training, for evaluation prompts.</summary>
    public static IReadOnlyList<string> HeldOutTemplates { get; } =
        ["a picture showing {a}{d}", "here is {a}{d}", "{a}{d} spotted in the wild", "close-up of {a}{d}"];

    /// <summary>Words for each measured attribute.</summary>
    public static IReadOnlyDictionary<ImageAttribute, IReadOnlyList<string>> AttributeWords { get; } = new Dictionary<ImageAttribute, IReadOnlyList<string>>
    {
        [ImageAttribute.Dark] = ["dark", "black", "charcoal", "dark grey"],
        [ImageAttribute.Light] = ["light", "white", "pale", "bright"],
        [ImageAttribute.Small] = ["small", "little", "mini"],
        [ImageAttribute.Large] = ["large", "big", "oversized"],
        [ImageAttribute.Tall] = ["long", "tall", "slim"],
        [ImageAttribute.Wide] = ["wide", "broad", "low-profile"],
        [ImageAttribute.Open] = ["open", "airy", "cut-out"],
        [ImageAttribute.Solid] = ["solid", "chunky", "sturdy"],
    };

    public static IReadOnlyList<string> ShopPhrases { get; } =
    [
        "free shipping", "new arrival", "best seller", "limited edition", "50% off", "20% off", "sale", "in stock",
        "ships today", "hot deal", "buy now", "last chance", "clearance", "exclusive", "100% cotton",
    ];

    public static IReadOnlyList<string> Emoji { get; } = ["✨", "🔥", "💯", "🛍️", "❤️", "👀", "⭐", "😍"];

    public static IReadOnlyList<string> Hashtags { get; } = ["#ootd", "#style", "#instafashion", "#musthave", "#shopping", "#lookbook"];

    /// <summary>
    /// The classes a text names, through any training or held-out name: words are compared lower-case
    /// with punctuation as spaces, longest name first ("t-shirt" is a T-shirt, not a shirt).
    /// </summary>
    public static IReadOnlySet<int> ClassesNamedIn(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var words = Words(text);
        var named = new HashSet<int>();
        for (int i = 0; i < words.Length;)
        {
            int matched = 0;
            foreach (var (phrase, label) in Phrases.Value)
            {
                if (phrase.Length > words.Length - i) continue;
                if (!words.AsSpan(i, phrase.Length).SequenceEqual(phrase)) continue;
                named.Add(label);
                matched = phrase.Length;
                break; // phrases are sorted longest first
            }
            i += Math.Max(matched, 1);
        }
        return named;
    }

    /// <summary>Lower-case words, anything but letters and digits separating them.</summary>
    public static string[] Words(string text) =>
        new string(text.Select(ch => char.IsLetterOrDigit(ch) ? char.ToLowerInvariant(ch) : ' ').ToArray())
            .Split(' ', StringSplitOptions.RemoveEmptyEntries);

    static readonly Lazy<(string[] Phrase, int Label)[]> Phrases = new(() =>
        TrainingNames.Select((names, label) => (names, label)).Concat(HeldOutNames.Select((names, label) => (names, label)))
            .SelectMany(x => x.names.Select(n => (Phrase: Words(n.Text), Label: x.label)))
            .OrderByDescending(p => p.Phrase.Length)
            .ToArray());
}
