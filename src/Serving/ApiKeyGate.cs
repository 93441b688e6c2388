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
/// </summary>
public sealed class ApiKeyGate
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    // SHA-256 of each key: comparing digests of equal length takes the same time whatever the key's length.
    private readonly byte[][] digests;

    /// <param name="keys">The accepted keys; none = no access control.</param>
    /// <param name="protectMetrics">Whether /metrics needs a key too (then the scraper sends one).</param>
    public ApiKeyGate(IEnumerable<string>? keys, bool protectMetrics = false)
    {
        var list = (keys ?? []).ToList();
        foreach (var k in list)
            if (!IsUsableKey(k))
                throw new ArgumentException("Http:ApiKeys: a key must be non-empty printable ASCII without spaces (it travels in an Authorization header)");
        digests = list.Select(k => SHA256.HashData(Encoding.UTF8.GetBytes(k))).ToArray();
        ProtectMetrics = protectMetrics;
    }

    /// <summary>Whether keys are configured (else every request passes).</summary>
    public bool Enabled => digests.Length > 0;

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
    public string? Check(string? authorization)
    {
        if (string.IsNullOrWhiteSpace(authorization))
            return "this server needs an API key: send the header 'Authorization: Bearer KEY'";
        var text = authorization.Trim();
        if (!text.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return "the Authorization header must be 'Bearer KEY'";
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(text["Bearer ".Length..].Trim()));
        // Every key is compared, each in constant time: neither the time nor the position of a match says anything.
        bool match = false;
        foreach (var d in digests) match |= CryptographicOperations.FixedTimeEquals(d, given);
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
        var problem = Check(context.Request.Headers.Authorization);
        if (problem is null)
        {
            await next(context);
            return;
        }
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = "Bearer realm=\"cadstream\"";
        await context.Response.WriteAsJsonAsync(new ErrorAnswer(problem), Json, context.RequestAborted);
    }
}

public static class ApiKeyGateExtensions
{
    /// <summary>Puts the gate in front of everything mapped after it (does nothing without keys).</summary>
    public static IApplicationBuilder UseApiKeys(this IApplicationBuilder app, ApiKeyGate gate) =>
        app.Use((context, next) => gate.InvokeAsync(context, next));
}
