using System.Text.RegularExpressions;

namespace CadStream.Tests.Docs;

/// <summary>Reads the tables of docs/interfaces.md, the project's own description of its outside interfaces.</summary>
public static partial class InterfacesDoc
{
    public sealed record Metric(string Name, string Type, string[] Labels);

    public static string Text => Repo.Read("docs", "interfaces.md");

    /// <summary>The rows of the table under the heading <paramref name="section"/>, cells trimmed, header and rule left out.</summary>
    public static List<string[]> Table(string section)
    {
        var lines = Text.Split('\n');
        int start = Array.FindIndex(lines, l => l.TrimEnd() == $"## {section}");
        if (start < 0) throw new InvalidOperationException($"docs/interfaces.md has no section '## {section}'");
        var rows = new List<string[]>();
        bool inTable = false;
        for (int i = start + 1; i < lines.Length && !lines[i].StartsWith("## ", StringComparison.Ordinal); i++)
        {
            var line = lines[i].Trim();
            if (!line.StartsWith('|')) { if (inTable) break; continue; }
            if (!inTable) { inTable = true; continue; }       // the header
            if (line.StartsWith("|---", StringComparison.Ordinal)) continue;
            rows.Add(line.Trim('|').Split('|').Select(c => c.Trim()).ToArray());
        }
        return rows;
    }

    public static IReadOnlyList<Metric> Metrics() => Table("Metrics").Select(r => new Metric(
        Code(r[0]).Single(), r[1], Code(r[2]).ToArray())).ToList();

    /// <summary>The `code` spans of a cell.</summary>
    public static IEnumerable<string> Code(string cell) => CodeSpan().Matches(cell).Select(m => m.Groups[1].Value);

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex CodeSpan();
}
