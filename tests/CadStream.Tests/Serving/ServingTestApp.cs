using System.Diagnostics;
using CadStream.Model;
using CadStream.Snapshots;
using CadStream.Snapshots.Redis;
using CadStream.Serving;
using CadStream.Tests.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CadStream.Tests.Serving;

/// <summary>The real serving app on Kestrel (127.0.0.1, a free port) over a folder store, and a client for it.</summary>
public sealed class ServingTestApp : IAsyncDisposable
{
    private ServingTestApp(WebApplication app, FolderSnapshotStore store, string root)
    {
        App = app;
        Store = store;
        Root = root;
        Url = app.Urls.First();
        Http = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(60) };
        Runtime = app.Services.GetRequiredService<ServingRuntime>();
    }

    public WebApplication App { get; }
    public FolderSnapshotStore Store { get; }
    public string Root { get; }
    public string Url { get; }
    public HttpClient Http { get; }
    public ServingRuntime Runtime { get; }
    public ModelHost Host => Runtime.Hosts[TinySnapshots.ModelId];

    public static ServingOptions FastOptions => new()
    {
        DefaultSteps = 4,
        DefaultSampler = "ddim",
        SnapshotPollInterval = TimeSpan.FromMilliseconds(500),
    };

    /// <summary>Starts the app; with <paramref name="publishV1"/> the store holds version 1 and the app has loaded it.</summary>
    /// <param name="access">API keys in front of the app (null: open).</param>
    public static async Task<ServingTestApp> StartAsync(bool publishV1 = true, ServingOptions? options = null, INodeStatus? status = null,
        ApiKeyGate? access = null)
    {
        _ = TestModels.Cpu;
        var root = Path.Combine(Path.GetTempPath(), "cadstream-tests", "serving-" + Guid.NewGuid().ToString("N"));
        var store = new FolderSnapshotStore(root, new FolderSnapshotStoreOptions { PollInterval = TimeSpan.FromMilliseconds(200) });
        if (publishV1) await store.PublishAsync(TinySnapshots.ModelId, TinySnapshots.V1, 1, 1, 8);
        var app = ServingApp.BuildServingApp(options ?? FastOptions, store, TinySnapshots.Catalog, status, "http://127.0.0.1:0",
            b => b.Logging.ClearProviders(), access);
        await app.StartAsync();
        var test = new ServingTestApp(app, store, root);
        if (publishV1) await test.WaitForVersionAsync(1);
        return test;
    }

    public async Task WaitForVersionAsync(long version, double seconds = 20)
    {
        var clock = Stopwatch.StartNew();
        while (Host.Current?.Version != version)
        {
            if (clock.Elapsed.TotalSeconds > seconds)
                throw new TimeoutException($"model did not reach snapshot v{version} in {seconds} s (has v{Host.Current?.Version}; " +
                    $"error: {Runtime.Follower.LastErrors.GetValueOrDefault(TinySnapshots.ModelId)})");
            await Task.Delay(20);
        }
    }

    /// <summary>Waits until the snapshot follower has checked the store <paramref name="times"/> more times: what was published before has been seen.</summary>
    public async Task FollowerCheckedAsync(int times = 2, double seconds = 20)
    {
        long from = Runtime.Follower.Checks;
        var clock = Stopwatch.StartNew();
        while (Runtime.Follower.Checks < from + times)
        {
            if (clock.Elapsed.TotalSeconds > seconds)
                throw new TimeoutException($"the snapshot follower checked the store {Runtime.Follower.Checks - from} times in {seconds} s, not {times}");
            await Task.Delay(20);
        }
    }

    public Task<HttpResponseMessage> PostSamplesAsync(string json, string model = TinySnapshots.ModelId) =>
        Http.PostAsync($"/v1/models/{model}/samples", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        await Store.DisposeAsync();
        try { Directory.Delete(Root, recursive: true); } catch (DirectoryNotFoundException) { }
    }
}
