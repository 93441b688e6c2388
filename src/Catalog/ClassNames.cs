using System.Globalization;

namespace CadStream.Catalog;

/// <summary>Resolves a class given by index or by name (case and punctuation ignored: "sneaker", "T-shirt/top", "tshirttop").</summary>
public static class ClassNames
{
    public static int Parse(string nameOrIndex, IReadOnlyList<string> names)
    {
        var s = nameOrIndex.Trim();
        if (int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var index))
        {
            if (index >= 0 && index < names.Count) return index;
            throw new ArgumentException($"unknown class '{nameOrIndex}': index {index} is outside 0..{names.Count - 1}; the classes are {string.Join(", ", names)}");
        }
        var key = Normalize(s);
        for (int i = 0; i < names.Count; i++)
            if (Normalize(names[i]) == key) return i;
        // A unique prefix of 3+ characters is enough ("T-shirt" for "T-shirt/top").
        var prefixed = Enumerable.Range(0, names.Count).Where(i => key.Length >= 3 && Normalize(names[i]).StartsWith(key, StringComparison.Ordinal)).ToArray();
        if (prefixed.Length == 1) return prefixed[0];
        throw Unknown(nameOrIndex, names);
    }

    static ArgumentException Unknown(string given, IReadOnlyList<string> names) =>
        new($"unknown class '{given}'; expected 0..{names.Count - 1} or one of: {string.Join(", ", names)}");

    static string Normalize(string s) => new(s.Where(char.IsLetterOrDigit).Select(char.ToLowerInvariant).ToArray());
}
