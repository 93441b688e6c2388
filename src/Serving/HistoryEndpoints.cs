using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static CadStream.Serving.HttpAnswers;

namespace CadStream.Serving;

/// <summary>GET /v1/models/{id}/history: what the page's charts draw for one model.</summary>
static class HistoryEndpoints
{
    public static void MapHistory(this IEndpointRouteBuilder endpoints, ServingRuntime runtime) =>
        endpoints.MapGet("/v1/models/{id}/history", (string id) => runtime.Hosts.ContainsKey(id)
            ? Results.Json(ApiMapping.History(runtime, id), Json)
            : UnknownModel(runtime, id))
            .WithSummary("A model's recent training curve, the coherence of its recent pairs, its latest live sample quality")
            .Produces<HistoryDocument>().Errors(404);
}
