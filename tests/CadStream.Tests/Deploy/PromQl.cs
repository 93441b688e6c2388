using System.Text.Json;
using System.Text.RegularExpressions;

namespace CadStream.Tests.Deploy;

/// <summary>The metric names of docs/interfaces.md ("Metrics"), with their types, and PromQL reading for the dashboard checks.</summary>
public static class PromQl
{
    /// <summary>docs/interfaces.md, "Metrics": the only metric names dashboards may use, with their types.</summary>
    public static readonly IReadOnlyDictionary<string, string> ContractMetrics =
        CadStream.Tests.Docs.InterfacesDoc.Metrics().ToDictionary(m => m.Name, m => m.Type);

    static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
        "inf", "nan", "Inf", "NaN",
    };

    static readonly Regex Strings = new(@"""(?:[^""\\]|\\.)*""|'(?:[^'\\]|\\.)*'|`[^`]*`", RegexOptions.Compiled);
    static readonly Regex Braces = new(@"\{[^{}]*\}", RegexOptions.Compiled);
    static readonly Regex Ranges = new(@"\[[^\[\]]*\]", RegexOptions.Compiled);
    static readonly Regex Grouping = new(@"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", RegexOptions.Compiled);
    static readonly Regex Variables = new(@"\$\{[^}]*\}|\$\w+", RegexOptions.Compiled);
    static readonly Regex Identifier = new(@"(?<![\w:.])(?<id>[A-Za-z_:][A-Za-z0-9_:]*)(?<call>\s*\()?", RegexOptions.Compiled);

    /// <summary>
    /// The metric identifiers of an expression: what is left once strings, label matchers, ranges, grouping
    /// label lists, Grafana variables, function calls, keywords and numbers are taken out.
    /// </summary>
    public static SortedSet<string> MetricNames(string expr)
    {
        var s = Strings.Replace(expr, " ");
        s = Braces.Replace(s, " ");
        s = Ranges.Replace(s, " ");
        s = Grouping.Replace(s, " ");
        s = Variables.Replace(s, " ");
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (Match m in Identifier.Matches(s))
        {
            if (m.Groups["call"].Success) continue;   // a function or aggregation
            var id = m.Groups["id"].Value;
            if (Keywords.Contains(id)) continue;
            names.Add(id);
        }
        return names;
    }

    /// <summary>The documented name a series name belongs to: cad_x_bucket, cad_x_sum and cad_x_count are parts of histogram cad_x.</summary>
    public static string BaseName(string series)
    {
        foreach (var suffix in new[] { "_bucket", "_sum", "_count" })
            if (series.EndsWith(suffix, StringComparison.Ordinal) && ContractMetrics.TryGetValue(series[..^suffix.Length], out var type) && type == "histogram")
                return series[..^suffix.Length];
        return series;
    }

    /// <summary>Series names and declared types in a Prometheus text exposition.</summary>
    public static (HashSet<string> Series, Dictionary<string, string> Types) ReadExposition(string text)
    {
        var series = new HashSet<string>(StringComparer.Ordinal);
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var p = line.Split(' ');
                types[p[2]] = p[3];
            }
            else if (line.Length > 0 && !line.StartsWith('#'))
                series.Add(line[..line.IndexOfAny(['{', ' '])]);
        }
        return (series, types);
    }

    /// <summary>Grafana's variables as a query to Prometheus sees them: every model, a rate window of the given length.</summary>
    public static string ForPrometheus(string expr, string rateInterval) =>
        expr.Replace("$__rate_interval", rateInterval).Replace("${model}", ".*").Replace("$model", ".*");
}

/// <summary>The dashboard JSON: panels, their targets and the template variables' queries.</summary>
public sealed class GrafanaDashboard(JsonElement root)
{
    public JsonElement Root { get; } = root;
    public const string File = "config/grafana/dashboards/cadstream-training.json";

    public static GrafanaDashboard Load()
    {
        using var doc = JsonDocument.Parse(Repo.Read(File));
        return new GrafanaDashboard(doc.RootElement.Clone());
    }

    public IEnumerable<JsonElement> Panels => Root.GetProperty("panels").EnumerateArray();

    /// <summary>(panel title, expression) for every target of every panel.</summary>
    public IEnumerable<(string Panel, string Expr)> Expressions =>
        Panels.SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => (p.GetProperty("title").GetString()!, t.GetProperty("expr").GetString()!)));

    /// <summary>Template variable queries (label_values(metric, label) and the like).</summary>
    public IEnumerable<string> VariableQueries =>
        Root.TryGetProperty("templating", out var t)
            ? t.GetProperty("list").EnumerateArray().Where(v => v.TryGetProperty("query", out _)).Select(v =>
                v.GetProperty("query") is { ValueKind: JsonValueKind.String } s ? s.GetString()! : v.GetProperty("query").GetProperty("query").GetString()!)
            : [];

    /// <summary>The metric identifiers of every expression and variable query.</summary>
    public SortedSet<string> AllMetricNames() =>
        new(Expressions.Select(e => e.Expr).Concat(VariableQueries.Select(LabelValuesMetric)).SelectMany(PromQl.MetricNames), StringComparer.Ordinal);

    /// <summary>label_values(metric{...}, label) -> the metric part, which is PromQL; other queries as they are.</summary>
    public static string LabelValuesMetric(string query)
    {
        var m = Regex.Match(query, @"^\s*label_values\s*\((?<metric>.*),\s*\w+\s*\)\s*$");
        return m.Success ? m.Groups["metric"].Value : query;
    }
}
