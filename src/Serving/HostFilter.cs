using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace CadStream.Serving;

/// <summary>
/// Answers only requests whose Host header names this node (<c>Http:AllowedHosts</c>), so a web page on another
/// site cannot reach a node on this machine through DNS rebinding (its name resolving to 127.0.0.1). A refused
/// host gets 400 with a JSON reason. With no names given, a loopback node takes localhost and loopback addresses
/// (127.0.0.1, [::1], ...) only, and a node on another address takes any host (it needs API keys there anyway).
/// The probes and the scrape (<c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>) are answered under any Host:
/// orchestrators and Prometheus reach a node by its IP address, and these read-only answers carry no user data
/// (<c>Http:ProtectMetrics</c> puts a key on <c>/metrics</c>).
/// </summary>
public sealed class HostFilter
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly HashSet<string>? allowed;
    private readonly bool loopbackOnly;
    static readonly HashSet<string> AnyHostPaths = new(StringComparer.OrdinalIgnoreCase) { "/healthz", "/readyz", "/metrics" };

    /// <param name="hosts">Host names (no port); "*" = any; empty = <paramref name="loopbackDefault"/> decides.</param>
    /// <param name="loopbackDefault">Whether the node listens on loopback only (then it takes loopback names by default).</param>
    public HostFilter(IEnumerable<string>? hosts, bool loopbackDefault)
    {
        var list = (hosts ?? []).Select(h => h.Trim()).Where(h => h.Length > 0).ToList();
        loopbackOnly = list.Count == 0 && loopbackDefault;
        allowed = list.Count == 0 || list.Contains("*") ? null : list.ToHashSet(StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Whether a request's Host header (with or without a port) is one this node answers.</summary>
    public bool Allows(HostString host)
    {
        if (loopbackOnly)
            return host.HasValue && (host.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
                || (System.Net.IPAddress.TryParse(host.Host.Trim('[', ']'), out var ip) && System.Net.IPAddress.IsLoopback(ip)));
        return allowed is null || (host.HasValue && allowed.Contains(host.Host));
    }

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (Allows(context.Request.Host) || AnyHostPaths.Contains(context.Request.Path.Value ?? ""))
        {
            await next(context);
            return;
        }
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        await context.Response.WriteAsJsonAsync(new ErrorAnswer(
            $"host '{context.Request.Host.Host}' is not one this node answers to: add it to Http:AllowedHosts"), Json, context.RequestAborted);
    }
}

public static class HostFilterExtensions
{
    /// <summary>Puts the host filter in front of everything mapped after it.</summary>
    public static IApplicationBuilder UseHostFilter(this IApplicationBuilder app, HostFilter filter) =>
        app.Use((context, next) => filter.InvokeAsync(context, next));
}
