using System.Text;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Serialization;

namespace CadStream.Tests.Deploy;

/// <summary>
/// docker-compose.yml as Compose reads it: YAML with merge keys (&lt;&lt;: *anchor) resolved and
/// ${VAR}, ${VAR:-default}, ${VAR:?error} and $$ interpolated from a given environment.
/// </summary>
public sealed class ComposeFile
{
    public Dictionary<string, object?> Root { get; }
    public IReadOnlyDictionary<string, Dictionary<string, object?>> Services { get; }

    ComposeFile(Dictionary<string, object?> root)
    {
        Root = root;
        Services = Map(root["services"]).ToDictionary(kv => kv.Key, kv => Map(kv.Value));
    }

    public static ComposeFile Load(IReadOnlyDictionary<string, string> environment, string? text = null)
    {
        text ??= Repo.Read("docker-compose.yml");
        var parsed = new DeserializerBuilder().Build().Deserialize<object>(new MergingParser(new Parser(new StringReader(text))));
        return new ComposeFile(Map(Interpolate(parsed, environment)));
    }

    // ---- YAML shapes ----

    public static Dictionary<string, object?> Map(object? node) => node switch
    {
        Dictionary<string, object?> d => d,
        Dictionary<object, object?> d => d.ToDictionary(kv => (string)kv.Key, kv => kv.Value),
        null => [],
        _ => throw new InvalidDataException($"expected a mapping, found {node.GetType().Name}: {node}"),
    };

    public static List<object?> List(object? node) => node switch
    {
        List<object?> l => l,
        null => [],
        _ => throw new InvalidDataException($"expected a sequence, found {node.GetType().Name}: {node}"),
    };

    public static string? Str(object? node) => node as string;

    /// <summary>A command or healthcheck test: a list as is, a string split on spaces (enough for the checks here).</summary>
    public static List<string> Words(object? node) => node switch
    {
        string s => s.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList(),
        _ => List(node).Select(x => (string)x!).ToList(),
    };

    /// <summary>environment: as a mapping or as a list of NAME=value.</summary>
    public static Dictionary<string, string> Environment(Dictionary<string, object?> service)
    {
        if (!service.TryGetValue("environment", out var env) || env is null) return [];
        if (env is List<object?> list)
            return list.Select(x => ((string)x!).Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");
        return Map(env).ToDictionary(kv => kv.Key, kv => kv.Value?.ToString() ?? "");
    }

    public sealed record Mount(string Source, string Target, bool ReadOnly, bool IsBind);

    /// <summary>volumes in short syntax (SOURCE:TARGET[:MODE]) or long syntax (type, source, target).</summary>
    public static List<Mount> Mounts(Dictionary<string, object?> service) =>
        List(service.GetValueOrDefault("volumes")).Select(v =>
        {
            if (v is string s)
            {
                var parts = s.Split(':');
                var source = parts[0];
                return new Mount(source, parts[1], parts.Length > 2 && parts[2].Split(',').Contains("ro"),
                    source.StartsWith('.') || source.StartsWith('/') || source.StartsWith('~'));
            }
            var m = Map(v);
            return new Mount((string)m["source"]!, (string)m["target"]!, m.GetValueOrDefault("read_only") as string == "true",
                (m.GetValueOrDefault("type") as string) == "bind");
        }).ToList();

    public sealed record Port(int HostFrom, int HostTo, int Container);

    /// <summary>ports in short syntax ("HOST:CONTAINER", "HOSTFROM-HOSTTO:CONTAINER", "IP:HOST:CONTAINER").</summary>
    public static List<Port> Ports(Dictionary<string, object?> service) =>
        List(service.GetValueOrDefault("ports")).Select(p =>
        {
            var parts = ((string)p!).Split('/')[0].Split(':');
            Assert.True(parts.Length >= 2, $"port '{p}' publishes no host port");
            var host = parts[^2].Split('-');
            return new Port(int.Parse(host[0]), int.Parse(host[^1]), int.Parse(parts[^1]));
        }).ToList();

    /// <summary>depends_on in long syntax: service -> condition (short syntax reads as no condition).</summary>
    public static Dictionary<string, string?> DependsOn(Dictionary<string, object?> service) =>
        service.GetValueOrDefault("depends_on") switch
        {
            null => [],
            List<object?> names => names.ToDictionary(n => (string)n!, _ => (string?)null),
            var m => Map(m).ToDictionary(kv => kv.Key, kv => Map(kv.Value).GetValueOrDefault("condition") as string),
        };

    /// <summary>Host path (under the repository) of a container path, through the service's bind mounts.</summary>
    public static string? HostPathOf(Dictionary<string, object?> service, string containerPath)
    {
        foreach (var m in Mounts(service).Where(m => m.IsBind).OrderByDescending(m => m.Target.Length))
        {
            var target = m.Target.TrimEnd('/');
            if (containerPath == target || containerPath.StartsWith(target + "/", StringComparison.Ordinal))
                return Path.GetFullPath(Path.Combine(Repo.Root, m.Source, containerPath[target.Length..].TrimStart('/')));
        }
        return null;
    }

    // ---- interpolation ----

    static readonly Regex Variable = new(@"\$(?:\$|\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?<op>:?[-?])(?<arg>[^}]*))?\}|(?<bare>[A-Za-z_][A-Za-z0-9_]*))", RegexOptions.Compiled);

    /// <summary>Compose's interpolation of one string; a missing ${VAR:?message} throws with the message.</summary>
    public static string InterpolateString(string s, IReadOnlyDictionary<string, string> env) => Variable.Replace(s, m =>
    {
        if (m.Value == "$$") return "$";
        var name = m.Groups["bare"].Success ? m.Groups["bare"].Value : m.Groups["name"].Value;
        var has = env.TryGetValue(name, out var value);
        var op = m.Groups["op"].Value;
        var arg = m.Groups["arg"].Value;
        return op switch
        {
            ":-" => has && value != "" ? value! : arg,
            "-" => has ? value! : arg,
            ":?" => has && value != "" ? value! : throw new MissingVariableException(name, arg),
            "?" => has ? value! : throw new MissingVariableException(name, arg),
            _ => value ?? "",
        };
    });

    static object? Interpolate(object? node, IReadOnlyDictionary<string, string> env) => node switch
    {
        string s => InterpolateString(s, env),
        Dictionary<object, object?> d => d.ToDictionary(kv => kv.Key.ToString()!, kv => Interpolate(kv.Value, env)),
        List<object?> l => l.Select(x => Interpolate(x, env)).ToList(),
        _ => node,
    };
}

public sealed class MissingVariableException(string name, string message) : Exception($"{name}: {message}")
{
    public string Name { get; } = name;
}

/// <summary>A Dockerfile split into stages and instructions (continuation lines joined, comments dropped).</summary>
public sealed class Dockerfile
{
    public sealed record Instruction(string Keyword, string Arguments);
    public sealed record Stage(string From, string? Name, List<Instruction> Instructions);

    public List<Instruction> GlobalArgs { get; } = [];
    public List<Stage> Stages { get; } = [];

    public static Dockerfile Parse(string text)
    {
        var file = new Dockerfile();
        var logical = new List<string>();
        var current = new StringBuilder();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (current.Length == 0 && line.TrimStart().StartsWith('#')) continue;
            if (current.Length > 0 && line.TrimStart().StartsWith('#')) continue;   // comments inside a continued instruction
            if (line.EndsWith('\\')) { current.Append(line[..^1]).Append(' '); continue; }
            current.Append(line);
            if (current.ToString().Trim().Length > 0) logical.Add(current.ToString().Trim());
            current.Clear();
        }
        if (current.Length > 0) logical.Add(current.ToString().Trim());
        foreach (var l in logical)
        {
            var space = l.IndexOf(' ');
            var keyword = (space < 0 ? l : l[..space]).ToUpperInvariant();
            var args = space < 0 ? "" : l[(space + 1)..].Trim();
            if (keyword == "FROM")
            {
                var m = Regex.Match(args, @"^(?:--platform=\S+\s+)?(?<image>\S+)(?:\s+AS\s+(?<name>\S+))?$", RegexOptions.IgnoreCase);
                Assert.True(m.Success, $"cannot read FROM {args}");
                file.Stages.Add(new Stage(m.Groups["image"].Value, m.Groups["name"].Success ? m.Groups["name"].Value : null, []));
            }
            else if (file.Stages.Count == 0) file.GlobalArgs.Add(new Instruction(keyword, args));
            else file.Stages[^1].Instructions.Add(new Instruction(keyword, args));
        }
        return file;
    }

    /// <summary>The stage built by default (the last) or by a compose build target.</summary>
    public Stage Target(string? name) => name is null ? Stages[^1] : Stages.Single(s => s.Name == name);

    /// <summary>NAME=value pairs of ENV and ARG instructions (ENV NAME value form too).</summary>
    public static IEnumerable<(string Name, string Value)> Assignments(Instruction i)
    {
        if (i.Keyword == "ENV" && !i.Arguments.Contains('=') )
        {
            var parts = i.Arguments.Split(' ', 2);
            yield return (parts[0], parts.Length > 1 ? parts[1].Trim() : "");
            yield break;
        }
        foreach (Match m in Regex.Matches(i.Arguments, @"(?<name>[A-Za-z_][A-Za-z0-9_]*)(?:=(?<value>""[^""]*""|\S*))?"))
            yield return (m.Groups["name"].Value, m.Groups["value"].Value.Trim('"'));
    }
}

/// <summary>.dockerignore patterns (Go filepath.Match with **), enough to tell whether a path is sent to the build.</summary>
public sealed class DockerIgnore(IReadOnlyList<string> patterns)
{
    public IReadOnlyList<string> Patterns => patterns;

    public static DockerIgnore Load() => new(Repo.Read(".dockerignore").Split('\n')
        .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList());

    /// <summary>True when the path (relative to the context, with /) or a folder above it matches a pattern (last match wins).</summary>
    public bool Excludes(string path)
    {
        path = path.Trim('/');
        bool excluded = false;
        foreach (var p in patterns)
        {
            var negate = p.StartsWith('!');
            var regex = ToRegex((negate ? p[1..] : p).Trim('/'));
            var parts = path.Split('/');
            for (int i = 1; i <= parts.Length; i++)
                if (regex.IsMatch(string.Join('/', parts[..i]))) { excluded = !negate; break; }
        }
        return excluded;
    }

    static Regex ToRegex(string pattern)
    {
        var sb = new StringBuilder("^");
        for (int i = 0; i < pattern.Length; i++)
        {
            if (pattern[i] == '*' && i + 1 < pattern.Length && pattern[i + 1] == '*')
            {
                sb.Append(i + 2 < pattern.Length && pattern[i + 2] == '/' ? "(?:.*/)?" : ".*");
                i += i + 2 < pattern.Length && pattern[i + 2] == '/' ? 2 : 1;
            }
            else if (pattern[i] == '*') sb.Append("[^/]*");
            else if (pattern[i] == '?') sb.Append("[^/]");
            else sb.Append(Regex.Escape(pattern[i].ToString()));
        }
        return new Regex(sb.Append('$').ToString());
    }
}
