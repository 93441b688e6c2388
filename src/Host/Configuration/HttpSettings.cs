using CadStream.Serving;

namespace CadStream.Host.Configuration;

public sealed record HttpSettings
{
    public string Url { get; init; } = "http://127.0.0.1:8080";
    /// <summary>
    /// API keys; when any is set, every /v1 request needs <c>Authorization: Bearer KEY</c> (env
    /// <c>CADSTREAM__Http__ApiKeys__0</c>, <c>__1</c>, ...: several keys let one be replaced without downtime).
    /// An entry <c>admin:KEY</c> may also pin (and make any other change); a plain <c>KEY</c> or <c>sample:KEY</c>
    /// may read and sample only (docs/security.md, "API keys").
    /// </summary>
    public List<string> ApiKeys { get; init; } = [];
    /// <summary>Whether /metrics needs a key too (the Prometheus scrape then sends one).</summary>
    public bool ProtectMetrics { get; init; }
    /// <summary>Serve without keys on an address other machines reach (else the node refuses to start).</summary>
    public bool AllowAnonymous { get; init; }

    /// <summary>
    /// Host names this node answers to (DNS-rebinding guard; env <c>CADSTREAM__Http__AllowedHosts__0</c>, ...); "*" = any.
    /// Empty: localhost and loopback addresses (127.0.0.1, [::1], ...) on a loopback <see cref="Url"/>, any host elsewhere.
    /// </summary>
    public List<string> AllowedHosts { get; init; } = [];

    /// <summary>The Host-header filter in front of the node's HTTP.</summary>
    public HostFilter HostGuard() => new(AllowedHosts, IsLoopback(Url));

    /// <summary>The gate in front of the node's HTTP API.</summary>
    public ApiKeyGate Gate() => new(ApiKeys, ProtectMetrics);

    /// <summary>
    /// Why this node must not serve HTTP as configured, or null: no keys on an address other machines
    /// reach (anything but loopback), unless <see cref="AllowAnonymous"/> says so on purpose; or a key
    /// that cannot travel in a header.
    /// </summary>
    public string? Problem()
    {
        if (ApiKeys.Any(k => !ApiKeyGate.IsUsableKey(ApiKeyGate.Parse(k).Key)))
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
