using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using CadStream.Serving;
using Xunit.Abstractions;

namespace CadStream.Tests.Serving;

/// <summary>Concurrency through HTTP: batching, the queue limit, and snapshot swaps under load.</summary>
public sealed class ServingUnderLoadTests(ITestOutputHelper output)
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

    [Fact]
    public async Task Twenty_swaps_under_four_sampling_clients_answer_every_request_with_200()
    {
        await using var app = await ServingTestApp.StartAsync(options: ServingTestApp.FastOptions with { QualityEverySeconds = 0 });
        const int swaps = 20, clients = 4;
        var failures = new ConcurrentQueue<string>();
        // Completed by the first answer made by each version: proof that the version served requests, under load.
        var answeredBy = new ConcurrentDictionary<long, TaskCompletionSource>();
        TaskCompletionSource Seen(long version) => answeredBy.GetOrAdd(version, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        using var stop = new CancellationTokenSource();
        long requests = 0;

        async Task<List<long>> Client(int seed)
        {
            var versions = new List<long>();
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    // Not cancelled by the stop: a request under way finishes and is checked.
                    using var r = await app.PostSamplesAsync($$"""{"label": {{seed % 10}}, "steps": 2, "seed": {{seed}}, "format": "json"}""");
                    var text = await r.Content.ReadAsStringAsync();
                    Interlocked.Increment(ref requests);
                    if (r.StatusCode != HttpStatusCode.OK)
                    {
                        failures.Enqueue($"{(int)r.StatusCode}: {text}");
                        continue;
                    }
                    using var doc = JsonDocument.Parse(text);
                    long v = doc.RootElement.GetProperty("snapshotVersion").GetInt64();
                    Assert.Equal(v.ToString(), r.Headers.GetValues("X-Snapshot-Version").Single());
                    versions.Add(v);
                    Seen(v).TrySetResult();
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                {
                    failures.Enqueue($"transport: {e.GetType().Name}: {e.Message}");
                }
            }
            return versions;
        }

        var clock = Stopwatch.StartNew();
        var running = Enumerable.Range(0, clients).Select(i => Task.Run(() => Client(i))).ToArray();
        var patience = TimeSpan.FromSeconds(30);
        try
        {
            await Seen(1).Task.WaitAsync(patience);
            for (long v = 2; v <= swaps + 1 && failures.IsEmpty; v++)
            {
                byte[][] weights = [TinySnapshots.V1, TinySnapshots.V2, TinySnapshots.V3];
                await app.Store.PublishAsync(TinySnapshots.ModelId, weights[(v - 1) % 3], v, v, 8 * v);
                // The next swap waits until a client was answered by this version: each swap happens while requests flow.
                await Seen(v).Task.WaitAsync(patience);
            }
        }
        finally
        {
            stop.Cancel();
        }
        var perClient = await Task.WhenAll(running);
        output.WriteLine($"{swaps} swaps, {requests} requests from {clients} clients in {clock.Elapsed.TotalSeconds:F1} s; " +
                         $"answers per version: {string.Join(" ", perClient.SelectMany(v => v).GroupBy(v => v).OrderBy(g => g.Key).Select(g => $"v{g.Key}:{g.Count()}"))}");

        Assert.True(failures.IsEmpty, $"{failures.Count} failed requests, first: {failures.FirstOrDefault()}");
        Assert.Equal(Enumerable.Range(1, swaps + 1).Select(v => (long)v), perClient.SelectMany(v => v).Distinct().Order());
        // Each client sees versions only rise.
        foreach (var versions in perClient) Assert.Equal(versions.Order(), versions);
        Assert.Equal(swaps + 1, app.Host.Current?.Version);
        // Every swapped-out network was freed once its last batch ended; none is leaked.
        Assert.Equal(swaps, app.Host.ModelsDisposed);
    }
}
