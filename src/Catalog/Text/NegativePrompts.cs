namespace CadStream.Catalog.Text;

/// <summary>
/// The one home of a text request's negative prompt (its second guidance branch), whoever asks: the HTTP API,
/// `cadstream sample`, live quality readings, evaluation. The default, as the reference code's public pipeline
/// makes it, is random gibberish of 3 to 6 words of 3 to 7 lower-case letters: a CAD model reads it at c = 0,
/// so guidance pushes away from "an image whose caption says nothing" rather than from any real wording.
/// Seeded from the request's seed, so the same request gives the same images.
/// </summary>
public static class NegativePrompts
{
    /// <summary>
    /// A request's negative prompt: the user's, else the default of the model's mode (<see cref="Default"/>).
    /// </summary>
    public static string For(ModelSpec spec, string? negativePrompt, long seed) =>
        negativePrompt ?? Default(!spec.Mode.UsesClassicGuidance(), seed);

    /// <summary>The gibberish of a seed; a pure function of it.</summary>
    public static string Gibberish(long seed)
    {
        var rng = new Random(Mix(seed));
        var words = new string[rng.Next(3, 7)];
        for (int i = 0; i < words.Length; i++)
        {
            var letters = new char[rng.Next(3, 8)];
            for (int j = 0; j < letters.Length; j++) letters[j] = (char)('a' + rng.Next(26));
            words[i] = new string(letters);
        }
        return string.Join(' ', words);
    }

    /// <summary>
    /// The negative a request gets when its caller names none: gibberish for a coherence-aware model (read at
    /// c = 0), the empty caption for a model trained with classic guidance (what it dropped captions to).
    /// </summary>
    public static string Default(bool coherenceAware, long seed) => coherenceAware ? Gibberish(seed) : "";

    /// <summary>SplitMix64 of the seed, folded to the int System.Random takes, so nearby seeds give unrelated words.</summary>
    static int Mix(long seed)
    {
        ulong z = unchecked((ulong)seed + 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return unchecked((int)(z ^ (z >> 31)));
    }
}
