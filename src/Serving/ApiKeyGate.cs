using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace CadStream.Serving;

/// <summary>
/// API keys for the HTTP API (docs/interfaces.md, "Access"). With keys configured, every request needs
/// <c>Authorization: Bearer KEY</c> except the open paths: <c>/</c> (the page, which asks for the key
/// itself), <c>/healthz</c> and <c>/readyz</c> (probes), <c>/openapi/v1.json</c> (the API's description, which
/// holds no data: tools fetch it before they have a key), and <c>/metrics</c> unless metrics are protected.
/// Everything else is closed by default, so a route added later is never open by accident. Without
/// keys the gate lets everything through.
/// Each key has a role (docs/security.md, "API keys"): an entry <c>admin:KEY</c> or <c>sample:KEY</c> names it,
/// a plain <c>KEY</c> is <see cref="ApiRole.Sample"/>. A change (any /v1 request but a read or a
/// <c>POST .../samples</c>: pinning today, and any changing route added later) needs an admin key, else 403.
/// </summary>
public sealed class ApiKeyGate
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    // SHA-256 of each key: comparing digests of equal length takes the same time whatever the key's length.
    private readonly (byte[] Digest, ApiRole Role)[] keys;

    /// <param name="entries">The accepted keys, each plain or prefixed with its role (<c>admin:KEY</c>); none = no access control.</param>
    /// <param name="protectMetrics">Whether /metrics needs a key too (then the scraper sends one).</param>
    public ApiKeyGate(IEnumerable<string>? entries, bool protectMetrics = false)
    {
        var list = (entries ?? []).Select(Parse).ToList();
        foreach (var (k, _) in list)
            if (!IsUsableKey(k))
                throw new ArgumentException("Http:ApiKeys: a key must be non-empty printable ASCII without spaces (it travels in an Authorization header)");
        keys = list.Select(e => (SHA256.HashData(Encoding.UTF8.GetBytes(e.Key)), e.Role)).ToArray();
        ProtectMetrics = protectMetrics;
    }

    /// <summary>The role prefixes of an <c>Http:ApiKeys</c> entry.</summary>
    public const string AdminPrefix = "admin:", SamplePrefix = "sample:";

    /// <summary>
    /// An <c>Http:ApiKeys</c> entry as key and role: <c>admin:KEY</c>, <c>sample:KEY</c>, or a plain <c>KEY</c>
    /// (role sample: a key given without thought can sample but not change what everyone is served).
    /// </summary>
    public static (string Key, ApiRole Role) Parse(string? entry)
    {
        entry ??= "";
        if (entry.StartsWith(AdminPrefix, StringComparison.Ordinal)) return (entry[AdminPrefix.Length..], ApiRole.Admin);
        if (entry.StartsWith(SamplePrefix, StringComparison.Ordinal)) return (entry[SamplePrefix.Length..], ApiRole.Sample);
        return (entry, ApiRole.Sample);
    }

    /// <summary>
    /// Whether a request changes the node's state and so needs <see cref="ApiRole.Admin"/>: every method but
    /// GET, HEAD and OPTIONS, except POST to a <c>/samples</c> route (sampling reads a model).
    /// </summary>
    public static bool NeedsAdmin(string method, PathString path)
    {
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method)) return false;
        var p = path.Value is { Length: > 1 } v ? v.TrimEnd('/') : "/";
        return !(HttpMethods.IsPost(method) && p.EndsWith("/samples", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Whether keys are configured (else every request passes).</summary>
    public bool Enabled => keys.Length > 0;

    public bool ProtectMetrics { get; }

    /// <summary>A key that can travel as a Bearer token unchanged: printable ASCII, no spaces.</summary>
    public static bool IsUsableKey(string? key) => !string.IsNullOrEmpty(key) && key.All(c => c is > ' ' and < (char)127);

    /// <summary>Paths answered without a key.</summary>
    public bool IsOpen(PathString path)
    {
        var p = path.Value is { Length: > 1 } v ? v.TrimEnd('/') : "/";
        return p.Length == 0 || p == "/"
            || p.Equals("/healthz", StringComparison.OrdinalIgnoreCase)
            || p.Equals("/readyz", StringComparison.OrdinalIgnoreCase)
            || p.Equals(OpenApiDescription.Route, StringComparison.OrdinalIgnoreCase)
            || (!ProtectMetrics && p.Equals("/metrics", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Null when the Authorization header carries an accepted key, else what is wrong.</summary>
    public string? Check(string? authorization) => Check(authorization, out _);

    /// <summary>Null when the Authorization header carries an accepted key (its role in <paramref name="role"/>), else what is wrong.</summary>
    public string? Check(string? authorization, out ApiRole role)
    {
        role = ApiRole.Sample;
        if (string.IsNullOrWhiteSpace(authorization))
            return "this server needs an API key: send the header 'Authorization: Bearer KEY'";
        var text = authorization.Trim();
        if (!text.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return "the Authorization header must be 'Bearer KEY'";
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(text["Bearer ".Length..].Trim()));
        // Every key is compared, each in constant time: neither the time nor the position of a match says anything.
        bool match = false, admin = false;
        foreach (var (d, r) in keys)
        {
            bool same = CryptographicOperations.FixedTimeEquals(d, given);
            match |= same;
            admin |= same && r == ApiRole.Admin;
        }
        role = admin ? ApiRole.Admin : ApiRole.Sample;
        return match ? null : "the API key is not valid";
    }

    /// <summary>The middleware: 401 with a JSON reason and a WWW-Authenticate challenge for a closed path without a valid key.</summary>
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (!Enabled || IsOpen(context.Request.Path))
        {
            await next(context);
            return;
        }
        var problem = Check(context.Request.Headers.Authorization, out var role);
        if (problem is null && (role == ApiRole.Admin || !NeedsAdmin(context.Request.Method, context.Request.Path)))
        {
            await next(context);
            return;
        }
        if (problem is null)
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            await context.Response.WriteAsJsonAsync(new ErrorAnswer(
                $"{context.Request.Method} {context.Request.Path} changes the node: it needs an admin key (Http:ApiKeys entry 'admin:KEY'); this key may only sample"),
                Json, context.RequestAborted);
            return;
        }
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = "Bearer realm=\"cadstream\"";
        await context.Response.WriteAsJsonAsync(new ErrorAnswer(problem), Json, context.RequestAborted);
    }
}

/// <summary>What an API key may do: <see cref="Sample"/> reads and samples; <see cref="Admin"/> also changes the node (pins).</summary>
public enum ApiRole { Sample, Admin }

public static class ApiKeyGateExtensions
{
    /// <summary>Puts the gate in front of everything mapped after it (does nothing without keys).</summary>
    public static IApplicationBuilder UseApiKeys(this IApplicationBuilder app, ApiKeyGate gate) =>
        app.Use((context, next) => gate.InvokeAsync(context, next));
}
