using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CadStream.Catalog;
using CadStream.Catalog.Judging;
using CadStream.Imaging;
using CadStream.Model;
using CadStream.Runtime;
using CadStream.Snapshots;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.OpenApi;
using Prometheus;

namespace CadStream.Serving;

/// <summary>
/// The HTTP API (docs/interfaces.md, "HTTP") plus the web page, for <c>cadstream demo</c> and
/// <c>cadstream node --roles serving</c>. Either build a whole app with <see cref="BuildServingApp"/>,
/// or add the stage to an existing one with <see cref="AddCadStreamServing"/> and <see cref="MapCadStream"/>.
/// </summary>
public static class ServingApp
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// A web app serving <paramref name="catalog"/>'s models from <paramref name="store"/> on
    /// <paramref name="url"/> ("127.0.0.1:8080", "http://0.0.0.0:8080"; port 0 picks a free one, read
    /// it from <c>app.Urls</c> after start). Start it with StartAsync/RunAsync; stopping it stops sampling.
    /// </summary>
    /// <param name="access">API keys (null or without keys: open).</param>
    public static WebApplication BuildServingApp(ServingOptions options, ISnapshotStore store, ModelCatalog catalog,
        INodeStatus? nodeStatus = null, string url = "http://127.0.0.1:8080", Action<WebApplicationBuilder>? configure = null,
        ApiKeyGate? access = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseUrls(NormalizeUrl(url));
        configure?.Invoke(builder);
        builder.Services.AddCadStreamServing(options, store, catalog, nodeStatus);
        if (access is not null) builder.Services.AddSingleton(access);
        var app = builder.Build();
        app.UseJsonErrors();
        if (access is not null) app.UseApiKeys(access);
        app.MapCadStream();
        return app;
    }

    /// <summary>"host:port" becomes "http://host:port"; URLs with a scheme stay as they are.</summary>
    public static string NormalizeUrl(string url)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(url);
        return url.Contains("://", StringComparison.Ordinal) ? url : "http://" + url;
    }

    /// <summary>
    /// Registers the <see cref="ServingRuntime"/> (a hosted service), and the node's health and status
    /// providers unless the host registered its own.
    /// </summary>
    public static IServiceCollection AddCadStreamServing(this IServiceCollection services, ServingOptions options, ISnapshotStore store,
        ModelCatalog catalog, INodeStatus? nodeStatus = null)
    {
        services.TryAddSingleton(sp => new NodeHealth(new RestartPolicy(), sp.GetService<ILogger<NodeHealth>>()));
        services.AddSingleton(sp => new ServingRuntime(options, store, catalog, sp.GetRequiredService<NodeHealth>(), null, sp.GetService<ILoggerFactory>(),
            sp.GetService<ISampleJudge>(), sp.GetService<CadStream.Catalog.Text.ITextEncoder>(), sp.GetService<IQualityPrompts>()));
        services.AddHostedService(sp => sp.GetRequiredService<ServingRuntime>());
        services.AddCadStreamOpenApi();
        if (nodeStatus is not null) services.AddSingleton(nodeStatus);
        else services.TryAddSingleton<INodeStatus>(new StaticNodeStatus());
        services.AddHostedService(sp =>
        {
            var runtime = sp.GetRequiredService<ServingRuntime>();
            return new TrainingRecorder(runtime.History, sp.GetRequiredService<INodeStatus>(), runtime);
        });
        return services;
    }

    /// <summary>
    /// Maps GET /, /healthz, /readyz, /metrics, /openapi/v1.json, /v1/status, /v1/models, /v1/models/{id}/history,
    /// POST /v1/models/{id}/samples and PUT and DELETE /v1/models/{id}/pin. Each endpoint declares its body and answers,
    /// from which the OpenAPI document is generated.
    /// </summary>
    public static IEndpointRouteBuilder MapCadStream(this IEndpointRouteBuilder endpoints)
    {
        var runtime = endpoints.ServiceProvider.GetRequiredService<ServingRuntime>();
        var status = endpoints.ServiceProvider.GetRequiredService<INodeStatus>();
        var page = ServingPage.For(endpoints.ServiceProvider.GetService<ApiKeyGate>()?.Enabled == true);

        endpoints.MapGet("/", () => Results.Content(page, "text/html; charset=utf-8"))
            .WithSummary("The web page: sample the models, watch them train").Produces(200, typeof(string), "text/html");
        endpoints.MapHealth(runtime.Health);
        endpoints.MapGet("/readyz", () => runtime.IsReady
            ? Results.Text("ready", "text/plain; charset=utf-8")
            : Error(StatusCodes.Status503ServiceUnavailable, "no model has a snapshot loaded yet"))
            .WithSummary("Ready once a model has a snapshot loaded").Produces(200, typeof(string), "text/plain").Errors(503);
        endpoints.MapPrometheus();
        endpoints.MapOpenApiDocument();
        endpoints.MapGet("/v1/models", async (CancellationToken cancel) =>
        {
            var models = new List<ModelInfo>();
            foreach (var h in runtime.Hosts.Values) models.Add(ModelJson(h, await KeptAsync(runtime, h.ModelId, cancel), runtime.Quality.Latest(h.ModelId)));
            return Results.Json(models, Json);
        }).WithSummary("The served models").Produces<IReadOnlyList<ModelInfo>>();
        endpoints.MapGet("/v1/status", () =>
        {
            var node = status.Current();
            var document = StatusDocument.Of(node, runtime.Health, runtime.StartedAt, runtime.Store.Description, runtime.Hosts.Keys, runtime);
            return Results.Json(document, StatusDocument.JsonFor(node.Roles));
        }).WithSummary("The node, its cluster, Kafka, health and models; a role's fields only on nodes with that role").Produces<StatusDocument>();
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
        endpoints.MapGet("/v1/models/{id}/history", (string id) => runtime.Hosts.ContainsKey(id)
            ? Results.Json(HistoryJson(runtime, id), Json)
            : UnknownModel(runtime, id))
            .WithSummary("A model's recent training curve, the coherence of its recent pairs, its latest live sample quality")
            .Produces<HistoryDocument>().Errors(404);
        endpoints.MapPut("/v1/models/{id}/pin", (HttpContext context, string id) => PinAsync(context, id, runtime))
            .WithSummary("Serve a kept version until unpinned (a rollback)")
            .DescribesBody<RouteHandlerBuilder, PinBody>().Produces<PinAnswer>().Errors(400, 404, 415);
        endpoints.MapDelete("/v1/models/{id}/pin", (HttpContext context, string id) => UnpinAsync(context, id, runtime))
            .WithSummary("Follow the newest snapshot again").Produces<PinAnswer>().Errors(404);
        return endpoints;
    }

    /// <summary>Declares the <see cref="ErrorAnswer"/> an endpoint gives with each of <paramref name="codes"/>.</summary>
    static RouteHandlerBuilder Errors(this RouteHandlerBuilder builder, params int[] codes)
    {
        foreach (var code in codes) builder.Produces<ErrorAnswer>(code, "application/json");
        return builder;
    }

    /// <summary>GET /metrics: Prometheus text format (prometheus-net's middleware, which is no route handler: described by hand).</summary>
    public static IEndpointConventionBuilder MapPrometheus(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapMetrics("/metrics").WithMetadata(new DescribedRoute("Prometheus metrics, text format", "text/plain"));

    static ModelInfo ModelJson(ModelHost h, IReadOnlyList<long> kept, SampleQuality? quality)
    {
        var s = h.Current;
        return new ModelInfo(h.ModelId, h.Spec.Kind.Name(), h.Spec.Mode.Name(), h.Spec.Classes, s?.Version, s?.Steps, s?.Samples, s?.Created,
            h.DefaultGuidance, kept, h.PinnedVersion, quality?.Accuracy,
            // What c meant when the served snapshot learned (score-derived coherences), and a text model's encoder.
            h.CurrentCoherenceBins is { } bins ? JsonDocument.Parse(bins).RootElement.Clone() : null, h.CurrentTextEncoder);
    }

    /// <summary>The versions the store keeps for a model; empty when the store cannot be asked right now.</summary>
    static async Task<IReadOnlyList<long>> KeptAsync(ServingRuntime runtime, string id, CancellationToken cancel)
    {
        try { return (await runtime.Store.ListVersionsAsync(id, cancel)).Select(k => k.Version).ToArray(); }
        catch (Exception e) when (e is not OperationCanceledException) { return []; }
    }

    static QualityReading? QualityJson(SampleQuality? q) => q is null ? null
        : new QualityReading(q.SnapshotVersion, q.Accuracy, q.AccuracyAtZero, q.At, q.PerClass, q.Images, Math.Min(q.PerClass, QualityMonitor.GridRows),
            q.Steps, Convert.ToBase64String(q.GridPng));

    /// <summary>GET /v1/models/{id}/history: the recent training curve, the coherence of recent pairs and the latest live sample quality.</summary>
    static HistoryDocument HistoryJson(ServingRuntime runtime, string id) => new(id, runtime.History.Points(id),
        new CoherenceHistogram(TrainingHistory.CoherenceEdges, runtime.History.Coherence(id)), QualityJson(runtime.Quality.Latest(id)));

    static IResult UnknownModel(ServingRuntime runtime, string id) =>
        Error(StatusCodes.Status404NotFound, $"unknown model '{id}'; models: {string.Join(", ", runtime.Hosts.Keys)}");

    /// <summary>PUT /v1/models/{id}/pin {"version": n}: serve that kept version (a rollback) until unpinned.</summary>
    static async Task<IResult> PinAsync(HttpContext context, string id, ServingRuntime runtime)
    {
        if (!runtime.Hosts.TryGetValue(id, out var host)) return UnknownModel(runtime, id);
        if (NotJson(context.Request) is { } notJson) return notJson;
        var body = await ReadBodyAsync(context.Request, runtime.Options.MaxBodyBytes, context.RequestAborted);
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

    /// <summary>GET /healthz: 200 "ok" while every long-lived part works, 503 with a JSON reason when one has failed for good or keeps failing.</summary>
    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder endpoints, NodeHealth health)
    {
        endpoints.MapGet("/healthz", () => health.Problem is { } problem
            ? Error(StatusCodes.Status503ServiceUnavailable, problem)
            : Results.Text("ok", "text/plain; charset=utf-8"))
            .WithSummary("ok while the node's long-lived parts work").Produces(200, typeof(string), "text/plain").Errors(503);
        return endpoints;
    }

    static IResult Error(int code, string message) => Results.Json(new ErrorAnswer(message), Json, statusCode: code);

    /// <summary>
    /// 415 unless the body is declared <c>application/json</c> (a charset parameter may say UTF-8):
    /// a form post or text body is refused before it is read.
    /// </summary>
    static IResult? NotJson(HttpRequest request)
    {
        var type = request.ContentType;
        if (!Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(type, out var media)
            || !media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
            return Error(StatusCodes.Status415UnsupportedMediaType,
                $"the body must be JSON with the header 'Content-Type: application/json' (got {(string.IsNullOrWhiteSpace(type) ? "none" : $"'{type}'")})");
        // A parameter's value may be quoted (charset="UTF-8", RFC 9110); the quotes are not part of the name.
        var charset = Microsoft.Net.Http.Headers.HeaderUtilities.RemoveQuotes(media.Charset);
        if (charset.HasValue && !charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) && !charset.Equals("utf8", StringComparison.OrdinalIgnoreCase))
            return Error(StatusCodes.Status415UnsupportedMediaType, $"the body must be UTF-8 JSON (got charset '{charset}')");
        return null;
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
            return Count("unknown", Error(StatusCodes.Status404NotFound,
                $"unknown model '{id}'; models: {string.Join(", ", runtime.Hosts.Keys)}"), StatusCodes.Status404NotFound);

        if (NotJson(context.Request) is { } notJson) return Count(id, notJson, 415);
        var body = await ReadBodyAsync(context.Request, runtime.Options.MaxBodyBytes, context.RequestAborted);
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
            int count = parsed.Request.Count, c = spec.Channels, side = spec.ImageSize;
            var pixels = ImageTensors.ToBytes(output.Images);
            if (parsed.Format == SampleFormat.Png)
            {
                int columns = Math.Min(count, runtime.Options.GridColumns);
                result = Results.Bytes(ImageGrid.EncodePng(pixels, count, c, side, side, columns), "image/png");
            }
            else
            {
                int each = spec.ImageBytes;
                var images = new string[count];
                for (int i = 0; i < count; i++)
                    images[i] = Convert.ToBase64String(ImageGrid.EncodePng(pixels[(i * each)..((i + 1) * each)], 1, c, side, side, columns: 1, scale: 1, gap: 0));
                result = Results.Json(new SampleImages(images, output.Snapshot.Version, parsed.Request.Seed), Json);
            }
        }
        ServingMetrics.SampleSeconds.WithLabels(id).Observe(clock.Elapsed.TotalSeconds);
        return Count(id, result, 200);
    }

    /// <summary>The request body, or null when it is larger than <paramref name="limit"/>.</summary>
    static async Task<byte[]?> ReadBodyAsync(HttpRequest request, int limit, CancellationToken cancel)
    {
        if (request.ContentLength > limit) return null;
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int n;
        while ((n = await request.Body.ReadAsync(chunk, cancel)) > 0)
        {
            if (buffer.Length + n > limit) return null;
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }
}
