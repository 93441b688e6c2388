using CadStream.Actors;
using CadStream.Host.Cli;
using CadStream.Host.Cluster;
using CadStream.Host.Configuration;
using CadStream.Scoring;

namespace CadStream.Host.Commands;

/// <summary>`cadstream node`: one cluster node with the given roles and configuration.</summary>
public sealed class NodeCommand : ICommand
{
    public string Name => "node";
    public string Summary => "Run one cluster node; ROLES is a comma list of ingress, scorer, trainer, serving.";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("roles", "comma list of ingress, scorer, trainer, serving (default: the config's)", ValueName: "ROLES"),
        new("config", "configuration file, or a role file over it (config/compose/*.json, config/cluster/*.json)", "config/cadstream.json beside the executable", ValueName: "FILE"),
        new("port", "Akka remoting port (0 = any free port)", ValueName: "PORT"),
        new("seed", "comma list of seed-node addresses (akka.tcp://cadstream@HOST:PORT)", ValueName: "LIST"),
        new("kafka", "Kafka bootstrap HOST:PORT", ValueName: "HOST:PORT"),
        new("redis", "Redis HOST:PORT for snapshots", ValueName: "HOST:PORT"),
        new("http", "HTTP listen address", ValueName: "HOST:PORT"),
        new("duration", "stop after this long (e.g. 90s, 10m); default: until Ctrl-C", ValueName: "TIME"),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        var settings = NodeOptions.Apply(a, CadStreamSettings.Load(a.Has("config") ? a.RequireString("config") : null));
        using var timer = NodeOptions.Deadline(a, cancel, out var token);
        return NodeOptions.RunUntil(settings, token, node =>
            Console.Error.WriteLine($"node up: roles {string.Join(",", settings.Node.Roles)}, http {node.HttpUrl}, kafka {(node.KafkaBootstrap == "" ? "none" : node.KafkaBootstrap)}"));
    }
}

/// <summary>Command-line overrides and the run loop shared by `node` and `demo`.</summary>
public static class NodeOptions
{
    public static CadStreamSettings Apply(ParsedArgs a, CadStreamSettings s)
    {
        var node = s.Node;
        if (a.Has("roles"))
        {
            var roles = a.RequireString("roles").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var r in roles)
                if (!NodeSettings.KnownRoles.Contains(r)) throw new UsageException($"--roles: unknown role '{r}'; roles are {string.Join(", ", NodeSettings.KnownRoles)}");
            if (roles.Length == 0) throw new UsageException("--roles needs at least one role");
            node = node with { Roles = roles };
        }
        if (a.Has("port")) node = node with { Port = a.Int("port", 0, 65535) };
        if (a.Has("seed")) node = node with { SeedNodes = a.RequireString("seed").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) };
        s = s with { Node = node };
        if (a.Has("kafka")) s = s with { Kafka = s.Kafka with { Bootstrap = HostPort(a, "kafka") } };
        if (a.Has("redis")) s = s with { Redis = s.Redis with { Endpoint = HostPort(a, "redis") } };
        if (a.Has("http")) s = s with { Http = s.Http with { Url = "http://" + HostPort(a, "http") } };
        if (s.Models.Count == 0) throw new UsageException("the configuration lists no models (section Models)");
        try { _ = s.Catalog(); } catch (ArgumentException e) { throw new UsageException($"configuration: {e.Message}"); }
        try { s.Supervision.Validate(); } catch (ArgumentException e) { throw new UsageException($"configuration: Supervision: {e.Message}"); }
        try { s.Serving.Validate(); } catch (ArgumentException e) { throw new UsageException($"configuration: {e.Message}"); }
        try { s.Ingress.Validate(); } catch (ArgumentException e) { throw new UsageException($"configuration: {e.Message}"); }
        try { s.Scoring.Validate(); } catch (ArgumentException e) { throw new UsageException($"configuration: {e.Message}"); }
        // An API open to the network is a choice, never a default.
        if (s.Http.Problem() is { } problem) throw new UsageException(problem);
        // Nor is a cluster port anyone can join.
        if (s.Node.RemotingProblem() is { } remoting) throw new UsageException(remoting);
        return s;
    }

    static string HostPort(ParsedArgs a, string name)
    {
        var v = a.RequireString(name);
        var i = v.LastIndexOf(':');
        if (v.StartsWith("http://")) v = v["http://".Length..];
        i = v.LastIndexOf(':');
        if (i <= 0 || !int.TryParse(v[(i + 1)..], out var port) || port is < 1 or > 65535)
            throw new UsageException($"--{name} must be HOST:PORT (got '{a.RequireString(name)}')");
        return v;
    }

    public static CancellationTokenSource? Deadline(ParsedArgs a, CancellationToken cancel, out CancellationToken token)
    {
        if (!a.Has("duration")) { token = cancel; return null; }
        var d = ParseDuration(a.RequireString("duration"));
        var cts = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        cts.CancelAfter(d);
        token = cts.Token;
        return cts;
    }

    public static TimeSpan ParseDuration(string s)
    {
        s = s.Trim().ToLowerInvariant();
        double Num(string x) => double.TryParse(x, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) && v > 0
            ? v : throw new UsageException($"--duration must look like 90s, 10m or 1h (got '{s}')");
        return s.EndsWith("ms") ? TimeSpan.FromMilliseconds(Num(s[..^2]))
            : s.EndsWith('s') ? TimeSpan.FromSeconds(Num(s[..^1]))
            : s.EndsWith('m') ? TimeSpan.FromMinutes(Num(s[..^1]))
            : s.EndsWith('h') ? TimeSpan.FromHours(Num(s[..^1]))
            : TimeSpan.FromSeconds(Num(s));
    }

    /// <summary>
    /// Starts the node, calls onStarted, runs until the token (or until the node stops itself because a
    /// part failed for good), then stops cleanly. Returns the exit code: 0, or 1 after such a failure.
    /// </summary>
    /// <param name="classifier">The node's classifier when it may still be training (the demo's); by default <c>Scoring:Classifier</c>.</param>
    public static int RunUntil(CadStreamSettings settings, CancellationToken token, Action<CadStreamNode> onStarted,
        Action<CadStreamNode>? tick = null, ClassifierSource? classifier = null)
    {
        var node = CadStreamNode.StartAsync(settings, logs: null, token, classifier: classifier).GetAwaiter().GetResult();
        try
        {
            onStarted(node);
            while (!token.IsCancellationRequested && !node.Exited.IsCompleted)
            {
                WaitHandle.WaitAny([token.WaitHandle, ((IAsyncResult)node.Exited).AsyncWaitHandle], TimeSpan.FromSeconds(2));
                if (!node.Exited.IsCompleted) tick?.Invoke(node);
            }
            if (!node.Exited.IsCompleted) Console.Error.WriteLine("stopping: storing final snapshots");
        }
        finally { node.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
        int code = node.Exited.Result;
        if (code != 0) Console.Error.WriteLine($"node stopped: {node.Health.Problem ?? "a long-lived part failed"}");
        return code;
    }
}
