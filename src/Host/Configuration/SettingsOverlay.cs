using System.Text.Json;
using Microsoft.Extensions.Configuration;

namespace CadStream.Host.Configuration;

/// <summary>
/// The configuration's sources as configuration keys ("Node:Roles:0" = "trainer"): a file over its bases, then the environment.
/// <para>
/// Overlays: a file may name a base file with a top-level <c>"Base"</c> (a path relative to the file
/// itself). The base is read first (it may have a base of its own) and the file's settings go over it:
/// objects merge key by key, scalars replace, and a list replaces the base's list as a whole (a role
/// file's <c>Node:Roles</c> of one role is that one role, not the first entry of the base's four).
/// Role files under config/compose/ and config/cluster/ hold only what differs from config/cadstream.json.
/// Environment variables come last and win; variables naming entries of a list
/// (<c>CADSTREAM__Node__SeedNodes__0</c>, <c>__1</c>, ...) replace that list too, while one naming a
/// field of an entry (<c>CADSTREAM__Models__0__Mode</c>) changes only that field.
/// </para>
/// </summary>
public static class SettingsOverlay
{
    /// <summary>Top-level key of an overlay file naming the file it goes over.</summary>
    public const string BaseKey = "Base";
    /// <summary>Prefix of the environment variables that override settings (then Section__Key).</summary>
    public const string EnvironmentPrefix = "CADSTREAM__";

    /// <summary>
    /// The settings of a file and its bases as configuration keys ("Node:Roles:0" = "trainer"), bases
    /// first, overlays on top; <paramref name="lists"/> gets the keys that hold lists.
    /// </summary>
    public static Dictionary<string, string?> LoadFlattened(string file, out HashSet<string> lists)
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        lists = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (_, root) in Chain(Path.GetFullPath(file)))
            foreach (var property in root.EnumerateObject())
                if (!property.NameEquals(BaseKey)) Overlay(data, lists, property.Name, property.Value);
        return data;
    }

    /// <summary>The file and its bases, base first.</summary>
    static List<(string Path, JsonElement Root)> Chain(string path)
    {
        var chain = new List<(string, JsonElement)>();
        var seen = new List<string>();
        string? from = null;
        while (true)
        {
            if (seen.Contains(path, StringComparer.Ordinal))
                throw new InvalidDataException($"configuration files name each other as Base: {string.Join(" -> ", seen.Append(path))}");
            seen.Add(path);
            if (!File.Exists(path))
                throw new FileNotFoundException(from is null
                    ? $"configuration file '{path}' does not exist"
                    : $"configuration file '{path}' (the Base of '{from}') does not exist", path);
            JsonElement root;
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(path),
                    new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
                root = doc.RootElement.Clone();
            }
            catch (JsonException e) { throw new InvalidDataException($"configuration file '{path}' is not valid JSON: {e.Message}"); }
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"configuration file '{path}' must hold one JSON object");
            chain.Insert(0, (path, root));
            if (!root.TryGetProperty(BaseKey, out var b)) break;
            if (b.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(b.GetString()))
                throw new InvalidDataException($"configuration file '{path}': {BaseKey} must be the path of the file it goes over");
            from = path;
            path = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, b.GetString()!));
        }
        return chain;
    }

    /// <summary>Puts one JSON value at <paramref name="key"/>: objects merge, lists and scalars replace what was there.</summary>
    static void Overlay(Dictionary<string, string?> data, HashSet<string> lists, string key, JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                // An object over a scalar or a list replaces it; over an object it merges.
                if (lists.Remove(key) | data.Remove(key)) RemoveUnder(data, lists, key);
                foreach (var p in value.EnumerateObject()) Overlay(data, lists, key + ConfigurationPath.KeyDelimiter + p.Name, p.Value);
                break;
            case JsonValueKind.Array:
                data.Remove(key);
                RemoveUnder(data, lists, key);
                lists.Add(key);
                int i = 0;
                foreach (var item in value.EnumerateArray()) Overlay(data, lists, key + ConfigurationPath.KeyDelimiter + i++, item);
                break;
            default:
                lists.Remove(key);
                RemoveUnder(data, lists, key);
                data[key] = value.ValueKind switch
                {
                    JsonValueKind.String => value.GetString(),
                    JsonValueKind.Null => null,
                    JsonValueKind.True => "true",
                    JsonValueKind.False => "false",
                    _ => value.GetRawText(),
                };
                break;
        }
    }

    static void RemoveUnder(Dictionary<string, string?> data, HashSet<string> lists, string key)
    {
        var prefix = key + ConfigurationPath.KeyDelimiter;
        foreach (var k in data.Keys.Where(k => k.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)).ToList()) data.Remove(k);
        lists.RemoveWhere(k => k.StartsWith(prefix, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>CADSTREAM__Section__Key=value over the files; entries of a list replace the whole list.</summary>
    internal static void ApplyEnvironment(Dictionary<string, string?> data, HashSet<string> lists, IEnumerable<KeyValuePair<string, string?>> environment)
    {
        var overrides = new List<KeyValuePair<string, string?>>();
        foreach (var (name, value) in environment)
            if (name.Length > EnvironmentPrefix.Length && name.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase))
                overrides.Add(new(name[EnvironmentPrefix.Length..].Replace("__", ConfigurationPath.KeyDelimiter), value));
        // A variable naming a list entry itself (Node__SeedNodes__0) replaces the list; one going deeper
        // (Models__0__Mode) changes a field of that entry and keeps the rest of the list.
        foreach (var list in lists.ToList())
            if (overrides.Any(o => IsEntryOf(o.Key, list)))
            {
                data.Remove(list);
                RemoveUnder(data, lists, list);
            }
        foreach (var (key, value) in overrides) data[key] = value;
    }

    static bool IsEntryOf(string key, string list) =>
        key.Length > list.Length + 1 && key.StartsWith(list + ConfigurationPath.KeyDelimiter, StringComparison.OrdinalIgnoreCase)
        && key[(list.Length + 1)..].All(char.IsAsciiDigit);

    internal static IEnumerable<KeyValuePair<string, string?>> ProcessEnvironment()
    {
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            yield return new((string)e.Key, (string?)e.Value);
    }
}
