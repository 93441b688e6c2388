using System.Diagnostics;
using System.Net;
using System.Text.Json;
using CadStream.Serving;

namespace CadStream.Tests.Serving;

/// <summary>Concurrency through HTTP: batching, the queue limit, and a snapshot swap under load.</summary>
public sealed class ServingUnderLoadTests
{
    static async Task<(HttpStatusCode Code, JsonElement Json)> PostJson(ServingTestApp app, string body)
    {
        var r = await app.PostSamplesAsync(body);
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        return (r.StatusCode, doc.RootElement.Clone());
    }

    [Fact]
    public async Task Eight_concurrent_requests_need_fewer_network_passes_than_eight_sequential_ones()
    {
        await using var app = await ServingTestApp.StartAsync();
        const int steps = 10;
        long batches = app.Host.BatchesRun, passes = app.Host.NetworkPasses;
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            PostJson(app, $$"""{"label": {{i}}, "steps": {{steps}}, "seed": {{i}}, "format": "json"}""")));
        Assert.All(results, r => Assert.Equal(HttpStatusCode.OK, r.Code));
        Assert.All(results, r => Assert.Equal(1, r.Json.GetProperty("images").GetArrayLength()));
        long ran = app.Host.BatchesRun - batches;
        Assert.True(ran < 8, $"8 requests ran in {ran} batches: no batching happened");
        Assert.True(app.Host.NetworkPasses - passes < 8 * steps);
        Assert.Equal(ran * steps, app.Host.NetworkPasses - passes);
    }

    [Fact]
    public async Task A_full_queue_answers_429_with_a_json_error()
    {
        await using var app = await ServingTestApp.StartAsync(options: ServingTestApp.FastOptions with { MaxQueuedRequests = 1 });
        var responses = await Task.WhenAll(Enumerable.Range(0, 6).Select(i =>
            app.PostSamplesAsync($$"""{"label": 1, "steps": 150, "seed": {{i}}}""")));
        var refused = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToArray();
        Assert.NotEmpty(refused);
        Assert.All(responses, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.TooManyRequests }));
        foreach (var r in refused)
        {
            Assert.Equal("application/json", r.Content.Headers.ContentType?.MediaType);
            using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
            Assert.Contains("queue is full", doc.RootElement.GetProperty("error").GetString());
        }
        var metrics = await app.Http.GetStringAsync("/metrics");
        Assert.Contains($"cad_sample_requests_total{{model=\"{TinySnapshots.ModelId}\",code=\"429\"}}", metrics);
    }

    [Fact]
    public async Task Publishing_v2_under_load_switches_versions_without_a_failed_request()
    {
        await using var app = await ServingTestApp.StartAsync();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        var seenV2 = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int afterV2 = 0, onV1 = 0;
        var failures = new List<string>();

        async Task<List<long>> Client(int seed)
        {
            var versions = new List<long>();
            while (!stop.IsCancellationRequested && Volatile.Read(ref afterV2) < 6)
            {
                var r = await app.PostSamplesAsync($$"""{"label": 4, "steps": 6, "seed": {{seed}}, "count": 2, "format": "json"}""");
                if (r.StatusCode != HttpStatusCode.OK)
                {
                    var text = await r.Content.ReadAsStringAsync();
                    lock (failures) failures.Add($"{(int)r.StatusCode}: {text}");
                    continue;
                }
                using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
                var v = doc.RootElement.GetProperty("snapshotVersion").GetInt64();
                versions.Add(v);
                if (v == 1) Interlocked.Increment(ref onV1);
                if (v == 2) { seenV2.TrySetResult(); Interlocked.Increment(ref afterV2); }
            }
            return versions;
        }

        var clients = Enumerable.Range(0, 3).Select(Client).ToArray();
        // Requests are flowing on v1 (three answered) before v2 is published.
        var flowing = Stopwatch.StartNew();
        while (Volatile.Read(ref onV1) < 3)
        {
            Assert.True(flowing.Elapsed < TimeSpan.FromSeconds(30), $"{onV1} answers on v1 in 30 s; failures: {string.Join("; ", failures)}");
            await Task.Delay(10);
        }
        await app.Store.PublishAsync(TinySnapshots.ModelId, TinySnapshots.V2, 2, 2, 16);
        await seenV2.Task.WaitAsync(TimeSpan.FromSeconds(20));
        var perClient = await Task.WhenAll(clients);

        Assert.Empty(failures);
        // Each client sees v1 until the swap and v2 after it, never going back.
        foreach (var versions in perClient) Assert.Equal(versions.Order(), versions);
        Assert.Contains(1L, perClient.SelectMany(v => v));
        Assert.Contains(2L, perClient.SelectMany(v => v));
        Assert.Equal(2, app.Host.Current?.Version);
        Assert.Equal(1, app.Host.ModelsDisposed);  // v1's network was freed once its last batch ended
        var models = await app.Http.GetStringAsync("/v1/models");
        Assert.Contains("\"snapshotVersion\":2", models);
    }
}
