using System.Diagnostics;
using System.Globalization;
using CadStream.Imaging;
using CadStream.Model;
using CadStream.Snapshots;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.OpenApi;
using static CadStream.Serving.HttpAnswers;

namespace CadStream.Serving;

/// <summary>GET /v1/models and POST /v1/models/{id}/samples: the served models, and sampling them.</summary>
static class ModelEndpoints
{
    /// <summary>GET /v1/models: each model with its served snapshot, kept versions, pin and latest live sample quality.</summary>
    public static void MapModels(this IEndpointRouteBuilder endpoints, ServingRuntime runtime) =>
        endpoints.MapGet("/v1/models", async (CancellationToken cancel) =>
        {
            var models = new List<ModelInfo>();
            foreach (var h in runtime.Hosts.Values) models.Add(ApiMapping.Model(h, await KeptAsync(runtime, h.ModelId, cancel), runtime.Quality.Latest(h.ModelId)));
            return Results.Json(models, Json);
        }).WithSummary("The served models").Produces<IReadOnlyList<ModelInfo>>();

    /// <summary>POST /v1/models/{id}/samples: a request's images, as JSON or one PNG grid.</summary>
    public static void MapSamples(this IEndpointRouteBuilder endpoints, ServingRuntime runtime) =>
        endpoints.MapPost("/v1/models/{id}/samples", (HttpContext context, string id) => SampleAsync(context, id, runtime))
            .WithSummary("Sample images from a model")
            .DescribesBody<RouteHandlerBuilder, SampleBodyDocument>(new Dictionary<string, (string, string)>
            {
                ["class"] = ("A class model", SampleBodyDocument.ClassExample.ToJson()),
                ["text"] = ("A text model", SampleBodyDocument.TextExample.ToJson()),
            })
            .Produces<SampleImages>(200, "application/json")
            .Errors(400, 404, 415, 503)
            .Produces<CostErrorAnswer>(429, "application/json")
            .AddOpenApiOperationTransformer((operation, _, _) =>
            {
                // "format": "png" answers one PNG: a second content type of 200, which a second Produces would replace.
                if (operation.Responses?.TryGetValue("200", out var ok) == true && ok.Content is { } content)
                    content["image/png"] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } };
                return Task.CompletedTask;
            });

    /// <summary>The versions the store keeps for a model; empty when the store cannot be asked right now.</summary>
    static async Task<IReadOnlyList<long>> KeptAsync(ServingRuntime runtime, string id, CancellationToken cancel)
    {
        try { return (await runtime.Store.ListVersionsAsync(id, cancel)).Select(k => k.Version).ToArray(); }
        catch (Exception e) when (e is not OperationCanceledException) { return []; }
    }

    static IResult Count(string model, IResult result, int code)
    {
        ServingMetrics.SampleRequests.WithLabels(model, code.ToString(CultureInfo.InvariantCulture)).Inc();
        return result;
    }

    static async Task<IResult> SampleAsync(HttpContext context, string id, ServingRuntime runtime)
    {
        var clock = Stopwatch.StartNew();
        if (!runtime.Hosts.TryGetValue(id, out var host))
            // Unknown ids share one label value, so callers cannot grow the metric without bound.
            return Count("unknown", UnknownModel(runtime, id), StatusCodes.Status404NotFound);

        if (JsonRequests.NotJson(context.Request) is { } notJson) return Count(id, notJson, 415);
        var body = await JsonRequests.ReadBodyAsync(context.Request, runtime.Options.MaxBodyBytes, context.RequestAborted);
        if (body is null)
            return Count(id, Error(StatusCodes.Status400BadRequest, $"body is larger than {runtime.Options.MaxBodyBytes} bytes"), 400);
        var field = runtime.Fields.For(host.Spec.Kind);
        var parsed = SampleBody.Parse(body, field, host.Spec, id, host.DefaultGuidance, runtime.Options.DefaultSteps, out var problem,
            Model.Scheduling.SamplerKinds.Parse(runtime.Options.DefaultSampler));
        if (parsed is null) return Count(id, Error(StatusCodes.Status400BadRequest, problem!), 400);
        if (field.Unavailable(id) is { } unavailable) return Count(id, Error(StatusCodes.Status503ServiceUnavailable, unavailable), 503);
        // The kind's request (a text request's prompts encoded): the request's own work (thread pool), not the sampling thread's.
        parsed = parsed with { Request = field.Request(parsed, host.Spec) };

        SampleOutput output;
        try { output = await host.SampleAsync(parsed.Request, parsed.Sampler, parsed.SnapshotVersion, context.RequestAborted); }
        catch (NoSnapshotException e) { return Count(id, Error(StatusCodes.Status503ServiceUnavailable, e.Message), 503); }
        catch (SnapshotNotFoundException e) { return Count(id, Error(StatusCodes.Status404NotFound, e.Message), 404); }
        catch (QueueFullException e) { return Count(id, Error(StatusCodes.Status429TooManyRequests, e.Message), 429); }
        catch (RequestCostException e)
        {
            return Count(id, Results.Json(new CostErrorAnswer(e.Message) { Cost = e.Cost, Limit = e.Limit }, Json, statusCode: StatusCodes.Status429TooManyRequests), 429);
        }
        catch (ObjectDisposedException) { return Count(id, Error(StatusCodes.Status503ServiceUnavailable, $"model {id} is shutting down"), 503); }
        catch (ArgumentException e) { return Count(id, Error(StatusCodes.Status400BadRequest, e.Message), 400); }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return Count(id, Results.Empty, 499);  // the client went away
        }

        IResult result;
        using (output)
        {
            context.Response.Headers["X-Snapshot-Version"] = output.Snapshot.Version.ToString(CultureInfo.InvariantCulture);
            context.Response.Headers["X-Seed"] = parsed.Request.Seed.ToString(CultureInfo.InvariantCulture);
            // What ran when the request named no sampler or steps (the server's defaults), so it can be asked for again.
            context.Response.Headers["X-Sampler"] = Model.Scheduling.SamplerKinds.Name(parsed.Sampler.Kind);
            context.Response.Headers["X-Steps"] = parsed.Sampler.Steps.ToString(CultureInfo.InvariantCulture);
            var spec = host.Spec;
            int count = parsed.Request.Count, side = spec.ImageSize;
            var pixels = ImageTensors.ToBytes(output.Images);
            result = parsed.Format == SampleFormat.Png
                ? Results.Bytes(ImageGrid.EncodePng(pixels, count, spec.Channels, side, side, Math.Min(count, runtime.Options.GridColumns)), "image/png")
                : Results.Json(ApiMapping.Images(pixels, count, spec, output.Snapshot.Version, parsed.Request.Seed), Json);
        }
        ServingMetrics.SampleSeconds.WithLabels(id).Observe(clock.Elapsed.TotalSeconds);
        return Count(id, result, 200);
    }
}
