using CadStream.Runtime;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Prometheus;
using static CadStream.Serving.HttpAnswers;

namespace CadStream.Serving;

/// <summary>
/// What a node says about itself: GET /healthz, /readyz, /metrics and /v1/status. The probes and the metrics are open
/// (<see cref="ApiKeyGate.IsOpen"/>); a node without the serving role maps /healthz and /metrics too.
/// </summary>
public static class StatusEndpoints
{
    /// <summary>GET /healthz: 200 "ok" while every long-lived part works, 503 with a JSON reason when one has failed for good or keeps failing.</summary>
    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder endpoints, NodeHealth health)
    {
        endpoints.MapGet("/healthz", () => health.Problem is { } problem
            ? Error(StatusCodes.Status503ServiceUnavailable, problem)
            : Results.Text("ok", "text/plain; charset=utf-8"))
            .WithSummary("ok while the node's long-lived parts work").Produces(200, typeof(string), "text/plain").Errors(503);
        return endpoints;
    }

    /// <summary>GET /readyz: ready once a model has a snapshot loaded.</summary>
    internal static void MapReady(this IEndpointRouteBuilder endpoints, ServingRuntime runtime) =>
        endpoints.MapGet("/readyz", () => runtime.IsReady
            ? Results.Text("ready", "text/plain; charset=utf-8")
            : Error(StatusCodes.Status503ServiceUnavailable, "no model has a snapshot loaded yet"))
            .WithSummary("Ready once a model has a snapshot loaded").Produces(200, typeof(string), "text/plain").Errors(503);

    /// <summary>GET /metrics: Prometheus text format (prometheus-net's middleware, which is no route handler: described by hand).</summary>
    public static IEndpointConventionBuilder MapPrometheus(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapMetrics("/metrics").WithMetadata(new DescribedRoute("Prometheus metrics, text format", "text/plain"));

    /// <summary>GET /v1/status: the node's typed status; a role's fields only on nodes with that role.</summary>
    internal static void MapStatus(this IEndpointRouteBuilder endpoints, ServingRuntime runtime, INodeStatus status) =>
        endpoints.MapGet("/v1/status", () =>
        {
            var node = status.Current();
            var document = StatusDocument.Of(node, runtime.Health, runtime.StartedAt, runtime.Store.Description, runtime.Hosts.Keys, runtime);
            return Results.Json(document, StatusDocument.JsonFor(node.Roles));
        }).WithSummary("The node, its cluster, Kafka, health and models; a role's fields only on nodes with that role").Produces<StatusDocument>();
}
