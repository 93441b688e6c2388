namespace CadStream.Sources;

/// <summary>The files of one key: extension (lower case, without the first dot: "jpg", "txt", "json", "seg.png") to bytes.</summary>
public sealed record Sample(string Source, string Key, IReadOnlyDictionary<string, byte[]> Parts);

/// <summary>
/// Stage 3: members grouped by key, as WebDataset does: the key is the member's path up to the first dot of its file
/// name, the rest is the extension. A shard stores a key's files together, so a group closes when the key changes.
/// </summary>
public static class SampleGroups
{
    public static (string Key, string Extension) Split(string memberName)
    {
        int slash = memberName.LastIndexOf('/');
        int dot = memberName.IndexOf('.', slash + 1);
        return dot < 0 ? (memberName, "") : (memberName[..dot], memberName[(dot + 1)..].ToLowerInvariant());
    }

    public static IEnumerable<Sample> Group(string source, IEnumerable<TarMember> members)
    {
        string? key = null;
        var parts = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var m in members)
        {
            var (k, ext) = Split(m.Name);
            // Hidden files and metadata WebDataset writers leave beside the samples are not samples.
            if (k.Length == 0 || Path.GetFileName(k).StartsWith('.') || Path.GetFileName(k).StartsWith("__", StringComparison.Ordinal)) continue;
            if (key is not null && k != key)
            {
                yield return new Sample(source, key, parts);
                parts = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            }
            key = k;
            parts[ext] = m.Data;
        }
        if (key is not null) yield return new Sample(source, key, parts);
    }
}
