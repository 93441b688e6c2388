using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace CadStream.Serving;

/// <summary>GET /: the web page (<see cref="ServingPage"/>), asking for a key first on a node with API keys.</summary>
static class PageEndpoints
{
    public static void MapPage(this IEndpointRouteBuilder endpoints, bool keysRequired)
    {
        var page = ServingPage.For(keysRequired);
        endpoints.MapGet("/", (HttpContext context) =>
            {
                context.Response.Headers.ContentSecurityPolicy = ServingPage.ContentSecurityPolicy;
                context.Response.Headers.XContentTypeOptions = "nosniff";
                return Results.Content(page, "text/html; charset=utf-8");
            })
            .WithSummary("The web page: sample the models, watch them train").Produces(200, typeof(string), "text/html");
    }
}
