using CadStream.Catalog;
using CadStream.Catalog.Judging;
using CadStream.Runtime;
using CadStream.Snapshots;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace CadStream.Serving;

/// <summary>
/// The HTTP API (docs/interfaces.md, "HTTP") plus the web page, for <c>cadstream demo</c> and
/// <c>cadstream node --roles serving</c>. Either build a whole app with <see cref="BuildServingApp"/>,
/// or add the stage to an existing one with <see cref="AddCadStreamServing"/> and <see cref="MapCadStream"/>.
/// The endpoints are mapped by their groups (*Endpoints.cs); what they answer is built by <see cref="ApiMapping"/>.
/// </summary>
public static class ServingApp
{
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
        // In this order: the OpenAPI document lists the paths in the order they are mapped.
        endpoints.MapPage(endpoints.ServiceProvider.GetService<ApiKeyGate>()?.Enabled == true);
        endpoints.MapHealth(runtime.Health);
        endpoints.MapReady(runtime);
        endpoints.MapPrometheus();
        endpoints.MapOpenApiDocument();
        endpoints.MapModels(runtime);
        endpoints.MapStatus(runtime, status);
        endpoints.MapSamples(runtime);
        endpoints.MapHistory(runtime);
        endpoints.MapPins(runtime);
        return endpoints;
    }
}
