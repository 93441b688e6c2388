using System.Text.Json;
using CadStream.Snapshots;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static CadStream.Serving.HttpAnswers;

namespace CadStream.Serving;

/// <summary>PUT and DELETE /v1/models/{id}/pin: serve a kept version (a rollback) until unpinned, then follow the newest again.</summary>
static class PinEndpoints
{
    public static void MapPins(this IEndpointRouteBuilder endpoints, ServingRuntime runtime)
    {
        endpoints.MapPut("/v1/models/{id}/pin", (HttpContext context, string id) => PinAsync(context, id, runtime))
            .WithSummary("Serve a kept version until unpinned (a rollback)")
            .DescribesBody<RouteHandlerBuilder, PinBody>().Produces<PinAnswer>().Errors(400, 404, 415);
        endpoints.MapDelete("/v1/models/{id}/pin", (HttpContext context, string id) => UnpinAsync(context, id, runtime))
            .WithSummary("Follow the newest snapshot again").Produces<PinAnswer>().Errors(404);
    }

    /// <summary>PUT /v1/models/{id}/pin {"version": n}: serve that kept version (a rollback) until unpinned.</summary>
    static async Task<IResult> PinAsync(HttpContext context, string id, ServingRuntime runtime)
    {
        if (!runtime.Hosts.TryGetValue(id, out var host)) return UnknownModel(runtime, id);
        if (JsonRequests.NotJson(context.Request) is { } notJson) return notJson;
        var body = await JsonRequests.ReadBodyAsync(context.Request, runtime.Options.MaxBodyBytes, context.RequestAborted);
        if (body is null) return Error(StatusCodes.Status400BadRequest, $"body is larger than {runtime.Options.MaxBodyBytes} bytes");
        long version;
        using (var doc = JsonBody.ParseObject(body, "{\"version\": 3}", out var problem))
        {
            if (doc is null) return Error(StatusCodes.Status400BadRequest, problem!);
            if (!doc.RootElement.TryGetProperty("version", out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out version) || version < 1)
                return Error(StatusCodes.Status400BadRequest, "body must be {\"version\": n} with a kept snapshot version n >= 1");
        }
        try { await runtime.Follower.KeptAsync(id, version, context.RequestAborted); }
        catch (SnapshotNotFoundException e) { return Error(StatusCodes.Status404NotFound, e.Message); }
        host.Pin(version);
        await runtime.Follower.CheckAsync(id, context.RequestAborted);
        return Results.Json(new PinAnswer(id, host.PinnedVersion, host.Current?.Version), Json);
    }

    /// <summary>DELETE /v1/models/{id}/pin: follow the newest snapshot again.</summary>
    static async Task<IResult> UnpinAsync(HttpContext context, string id, ServingRuntime runtime)
    {
        if (!runtime.Hosts.TryGetValue(id, out var host)) return UnknownModel(runtime, id);
        host.Pin(null);
        await runtime.Follower.CheckAsync(id, context.RequestAborted);
        return Results.Json(new PinAnswer(id, null, host.Current?.Version), Json);
    }
}
