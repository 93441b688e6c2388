using System.Text.Json;
using CadStream.Actors;
using CadStream.Catalog;
using CadStream.Data;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Runtime;
using CadStream.Scoring;
using CadStream.Serving;
using Microsoft.Extensions.Configuration;

namespace CadStream.Host.Configuration;

public sealed record KafkaSettings
{
    /// <summary>HOST:PORT of a Kafka cluster; empty = the embedded broker (demo only).</summary>
    public string Bootstrap { get; init; } = "";
    public string Topic { get; init; } = "cad.pairs";
    public string DeadLetterTopic { get; init; } = "cad.pairs.dlq";
    public int Partitions { get; init; } = 4;
    /// <summary>
    /// librdkafka properties for every Kafka client of the engine (the ingress consumer, its dead-letter
    /// producer, `cadstream produce`, the demo's producer): <c>security.protocol</c>, <c>sasl.mechanisms</c>,
    /// <c>sasl.username</c>, <c>sasl.password</c>, <c>ssl.ca.location</c>, tuning. Keys CadStream owns
    /// (bootstrap, group, commits; <see cref="KafkaClientSettings.EngineOwned"/>) are refused; secret values are
    /// never shown (<see cref="KafkaClientSettings.Redacted"/>). An environment variable may write '_' for '.'
    /// (<c>CADSTREAM__Kafka__Client__sasl_password</c>), since shells take no dots in variable names.
    /// </summary>
    public Dictionary<string, string> Client { get; init; } = new(StringComparer.Ordinal);

    /// <summary><see cref="Client"/> with librdkafka's key spelling ('_' read as '.'), checked for keys CadStream owns.</summary>
    public IReadOnlyDictionary<string, string> ClientProperties()
    {
        var properties = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in Client)
        {
            var name = key.Trim().Replace('_', '.');
            if (!properties.TryAdd(name, value ?? ""))
                throw new InvalidDataException($"Kafka:Client names '{name}' twice (once with '_' for '.')");
        }
        KafkaClientSettings.ApplyTo(new Confluent.Kafka.ClientConfig(), properties);
        return properties;
    }
}

public sealed record RedisSettings
{
    /// <summary>HOST:PORT; empty = snapshots in a local folder.</summary>
    public string Endpoint { get; init; } = "";
    public string Password { get; init; } = "";
    public string Prefix { get; init; } = "cad:";
}

public sealed record SnapshotSettings
{
    public string Folder { get; init; } = "data/snapshots";
    public int Keep { get; init; } = 3;
}

public sealed record HttpSettings
{
    public string Url { get; init; } = "http://127.0.0.1:8080";
    /// <summary>
    /// API keys; when any is set, every /v1 request needs <c>Authorization: Bearer KEY</c> (env
    /// <c>CADSTREAM__Http__ApiKeys__0</c>, <c>__1</c>, ...: several keys let one be replaced without downtime).
    /// </summary>
    public List<string> ApiKeys { get; init; } = [];
    /// <summary>Whether /metrics needs a key too (the Prometheus scrape then sends one).</summary>
    public bool ProtectMetrics { get; init; }
    /// <summary>Serve without keys on an address other machines reach (else the node refuses to start).</summary>
    public bool AllowAnonymous { get; init; }

    /// <summary>The gate in front of the node's HTTP API.</summary>
    public ApiKeyGate Gate() => new(ApiKeys, ProtectMetrics);

    /// <summary>
    /// Why this node must not serve HTTP as configured, or null: no keys on an address other machines
    /// reach (anything but loopback), unless <see cref="AllowAnonymous"/> says so on purpose; or a key
    /// that cannot travel in a header.
    /// </summary>
    public string? Problem()
    {
        if (ApiKeys.Any(k => !ApiKeyGate.IsUsableKey(k)))
            return "Http:ApiKeys holds an empty key or one with spaces or non-ASCII characters; keys travel as 'Authorization: Bearer KEY'";
        if (ApiKeys.Count > 0 || AllowAnonymous || IsLoopback(Url)) return null;
        return $"refusing to serve HTTP on {Url} without API keys: set Http:ApiKeys (environment CADSTREAM__Http__ApiKeys__0=KEY), " +
               "or listen on 127.0.0.1 (--http 127.0.0.1:PORT), or set Http:AllowAnonymous=true to serve it open on purpose";
    }

    /// <summary>Whether a listen URL ("http://127.0.0.1:8080", "localhost:80", "http://[::1]:8080") is reached from this machine only.</summary>
    public static bool IsLoopback(string url)
    {
        var rest = url.Contains("://", StringComparison.Ordinal) ? url[(url.IndexOf("://", StringComparison.Ordinal) + 3)..] : url;
        rest = rest.Split('/')[0];
        string host = rest.StartsWith('[') ? rest[1..Math.Max(1, rest.IndexOf(']'))]
            : rest.LastIndexOf(':') is var colon and > 0 ? rest[..colon] : rest;
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return true;
        // "0.0.0.0", "*", "+", "[::]" and any name or outside address listen beyond this machine.
        return System.Net.IPAddress.TryParse(host, out var ip) && System.Net.IPAddress.IsLoopback(ip);
    }
}

public sealed record DemoSettings
{
    /// <summary>Pairs per second the demo producer streams.</summary>
    public double Rate { get; init; } = 100;
    public string Noise { get; init; } = "entropy";
    public string Format { get; init; } = "json";
    public int Seed { get; init; }
}

/// <summary>
/// The one place configuration comes from: config/cadstream.json (or --config FILE), then
/// environment variables CADSTREAM__Section__Key, then command-line options.
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
public sealed record CadStreamSettings
{
    public NodeSettings Node { get; init; } = new();
    public KafkaSettings Kafka { get; init; } = new();
    public RedisSettings Redis { get; init; } = new();
    public SnapshotSettings Snapshots { get; init; } = new();
    public HttpSettings Http { get; init; } = new();
    public ScoringOptions Scoring { get; init; } = new();
    public ServingOptions Serving { get; init; } = new();
    /// <summary>Bounds on incoming records (section "Ingress"): value size, image sides and pixels, id length.</summary>
    public PairDecoderOptions Ingress { get; init; } = new();
    /// <summary>How the node's long-lived parts restart after a failure (section "Supervision").</summary>
    public RestartPolicy Supervision { get; init; } = new();
    public List<ModelSpec> Models { get; init; } = [];
    public DemoSettings Demo { get; init; } = new();

    /// <summary>Top-level key of an overlay file naming the file it goes over.</summary>
    public const string BaseKey = "Base";
    /// <summary>Prefix of the environment variables that override settings (then Section__Key).</summary>
    public const string EnvironmentPrefix = "CADSTREAM__";

    public static string DefaultFile => Path.Combine(AppContext.BaseDirectory, "config", "cadstream.json");

    /// <summary>
    /// Reads <paramref name="file"/> (default <see cref="DefaultFile"/>) with its chain of bases, then the
    /// environment: the process's, or <paramref name="environment"/> when given (what a container would see).
    /// </summary>
    public static CadStreamSettings Load(string? file, IEnumerable<KeyValuePair<string, string?>>? environment = null)
    {
        var data = LoadFlattened(file ?? DefaultFile, out var lists);
        ApplyEnvironment(data, lists, environment ?? ProcessEnvironment());
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(data).Build();
        var settings = new CadStreamSettings();
        try { configuration.Bind(settings); }
        catch (InvalidOperationException e)
        {
            // The binder says which key held a value of the wrong type (e.g. "Mode": "cda"); pass that on in one line.
            throw new InvalidDataException($"configuration: {(e.InnerException?.Message ?? e.Message).Split('\n')[0]}", e);
        }
        // The binder appends configured list entries to a property's default list; these replace it instead.
        var roles = configuration.GetSection("Node:Roles").Get<string[]>();
        var seeds = configuration.GetSection("Node:SeedNodes").Get<string[]>();
        // Each model bound on its own: the binder skips a list entry it cannot read (a "Kind" or "Mode" it does not
        // know) without a word, which would drop the model. The lists of each model (class names, channel
        // multipliers, cross-attention sides) replace the defaults, as above.
        var models = configuration.GetSection(nameof(Models)).GetChildren().Select(section =>
        {
            ModelSpec m;
            try { m = section.Get<ModelSpec>() ?? new ModelSpec(); }
            catch (InvalidOperationException e)
            {
                throw new InvalidDataException($"configuration: {section.Path}: {(e.InnerException?.Message ?? e.Message).Split('\n')[0]}", e);
            }
            return m with
            {
                Classes = section.GetSection(nameof(ModelSpec.Classes)).Get<string[]>() ?? [],
                ChannelMultipliers = section.GetSection(nameof(ModelSpec.ChannelMultipliers)).Get<int[]>() ?? new ModelSpec().ChannelMultipliers,
                CrossAttentionResolutions = section.GetSection(nameof(ModelSpec.CrossAttentionResolutions)).Get<int[]>() ?? new ModelSpec().CrossAttentionResolutions,
            };
        }).ToList();
        return settings with
        {
            Node = settings.Node with { Roles = roles ?? settings.Node.Roles, SeedNodes = seeds ?? [] },
            Models = models,
        };
    }

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
    static void ApplyEnvironment(Dictionary<string, string?> data, HashSet<string> lists, IEnumerable<KeyValuePair<string, string?>> environment)
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

    static IEnumerable<KeyValuePair<string, string?>> ProcessEnvironment()
    {
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            yield return new((string)e.Key, (string?)e.Value);
    }

    /// <summary>The configured models, each completed from its data set (class names when not given), validated.</summary>
    public ModelCatalog Catalog() => new(Models.Select(Complete));

    /// <summary>
    /// A model's class names, channels and image size from its <see cref="ModelSpec.Dataset"/>, where the
    /// configuration gives none (a model may, say, learn Fashion-MNIST's classes at 32x32).
    /// </summary>
    public static ModelSpec Complete(ModelSpec spec)
    {
        if (string.IsNullOrWhiteSpace(spec.Dataset)) return spec;
        var info = Datasets.Find(spec.Dataset);
        return spec with
        {
            Dataset = info.Name,
            Classes = spec.Classes.Length > 0 ? spec.Classes : info.Classes.ToArray(),
            Channels = spec.Channels > 0 ? spec.Channels : info.Channels,
            ImageSize = spec.ImageSize > 0 ? spec.ImageSize : info.ImageSize,
        };
    }
}
