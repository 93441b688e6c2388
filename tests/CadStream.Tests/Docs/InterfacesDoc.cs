using System.Text.RegularExpressions;

namespace CadStream.Tests.Docs;

/// <summary>Reads the tables of docs/interfaces.md, the project's own description of its outside interfaces.</summary>
public static partial class InterfacesDoc
{
    public sealed record Metric(string Name, string Type, string[] Labels);

    public static string Text => Repo.Read("docs", "interfaces.md");

    /// <summary>
    /// The rows of the first table under the heading <paramref name="section"/> ("## HTTP", or a subsection such as
    /// "### Sample body"), cells trimmed, header and rule left out.
    /// </summary>
    public static List<string[]> Table(string section)
    {
        var lines = Text.Split('\n');
        int start = Array.FindIndex(lines, l => l.TrimEnd() == $"## {section}" || l.TrimEnd() == $"### {section}");
        if (start < 0) throw new InvalidOperationException($"docs/interfaces.md has no section '## {section}' or '### {section}'");
        var rows = new List<string[]>();
        bool inTable = false;
        for (int i = start + 1; i < lines.Length && !lines[i].StartsWith('#'); i++)
        {
            var line = lines[i].Trim();
            if (!line.StartsWith('|')) { if (inTable) break; continue; }
            if (!inTable) { inTable = true; continue; }       // the header
            if (line.StartsWith("|---", StringComparison.Ordinal)) continue;
            rows.Add(line.Trim('|').Split('|').Select(c => c.Trim()).ToArray());
        }
        return rows;
    }

    /// <summary>
    /// A row of the /v1/status table: the <paramref name="Fields"/> of the objects at <paramref name="Object"/> ("." the
    /// document, "models[]" each entry of models) that nodes with one of <paramref name="Roles"/> answer (empty: every node).
    /// </summary>
    public sealed record StatusRow(string Object, string[] Roles, string[] Fields);

    public static IReadOnlyList<StatusRow> StatusRows() => Table("Status").Select(r => new StatusRow(
        Code(r[0]).Single(), r[1] == "every node" ? [] : Code(r[1]).ToArray(), Code(r[2]).ToArray())).ToList();

    /// <summary>The request body fields: (route, field), such as ("POST /v1/models/{id}/samples", "label").</summary>
    public static IReadOnlyList<(string Route, string Field)> BodyFields() =>
        Table("Request bodies").Select(r => (Code(r[1]).Single(), Code(r[0]).Single())).ToList();

    /// <summary>The routes of the HTTP table, such as "GET /v1/status".</summary>
    public static IReadOnlyList<string> Routes() => Table("HTTP").Select(r => Code(r[0]).Single()).ToList();

    public static IReadOnlyList<Metric> Metrics() => Table("Metrics").Select(r => new Metric(
        Code(r[0]).Single(), r[1], Code(r[2]).ToArray())).ToList();

    /// <summary>The `code` spans of a cell.</summary>
    public static IEnumerable<string> Code(string cell) => CodeSpan().Matches(cell).Select(m => m.Groups[1].Value);

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex CodeSpan();
}
