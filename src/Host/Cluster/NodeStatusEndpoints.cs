using CadStream.Catalog;
using CadStream.Runtime;
using CadStream.Serving;
using CadStream.Snapshots;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace CadStream.Host.Cluster;

/// <summary>The HTTP of a node without the serving role: /healthz, /metrics and /v1/status.</summary>
internal static class NodeStatusEndpoints
{
    /// <summary>The same /v1/status as a serving node's, without the serving role's fields.</summary>
    public static void MapNodeStatus(this WebApplication app, NodeHealth health, ClusterStatus status, ISnapshotStore store, ModelCatalog catalog)
    {
        var startedAt = DateTimeOffset.UtcNow;
        var modelIds = catalog.All.Select(m => m.Id).ToArray();
        app.MapHealth(health);
        app.MapPrometheus();
        app.MapGet("/v1/status", () =>
        {
            var current = status.Current();
            return Results.Json(StatusDocument.Of(current, health, startedAt, store.Description, modelIds), StatusDocument.JsonFor(current.Roles));
        });
    }
}
