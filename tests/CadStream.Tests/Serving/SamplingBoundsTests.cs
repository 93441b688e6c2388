using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Serving;
using Xunit.Abstractions;

namespace CadStream.Tests.Serving;

/// <summary>
/// What one request may cost (images x steps), what may wait per model, and that a client who goes
/// away frees its place in the queue at once, through the real HTTP server.
/// </summary>
public sealed class SamplingBoundsTests(ITestOutputHelper output)
{
    const string SamplesPath = "/v1/models/" + TinySnapshots.ModelId + "/samples";

    // The queue's states last milliseconds: poll faster than the kit's default.
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(60), FastPoll = TimeSpan.FromMilliseconds(10);

    static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    [Fact]
    public void The_default_limits_take_the_default_and_a_full_grid_and_refuse_a_full_grid_at_1000_steps()
    {
        var o = new ServingOptions();
        long Cost(int count, int steps) => ModelHost.RequestCost(new SampleRequest(0, count), new SamplerSettings(steps));
        Assert.True(Cost(1, o.DefaultSteps) <= o.MaxRequestCost);
        Assert.True(Cost(64, 50) <= o.MaxRequestCost);
        Assert.True(Cost(64, 1000) > o.MaxRequestCost);
        Assert.True(o.MaxQueuedCost >= o.MaxRequestCost);
        Assert.Throws<ArgumentException>(() => (o with { MaxQueuedCost = o.MaxRequestCost - 1 }).Validate());
        Assert.Throws<ArgumentException>(() => (o with { MaxRequestCost = o.DefaultSteps - 1 }).Validate());
    }

    [Fact]
    public async Task A_request_over_the_cost_limit_is_429_with_its_cost_and_the_limit()
    {
        await using var app = await ServingTestApp.StartAsync();
        long before = app.Host.ImagesSampled;
        using var r = await app.PostSamplesAsync("""{"label": 1, "steps": 1000, "count": 64}""");
        Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode);
        Assert.Equal("application/json", r.Content.Headers.ContentType?.MediaType);
        var json = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
        var error = json.GetProperty("error").GetString()!;
        Assert.Contains("64000", error);
        Assert.Contains("6400", error.Replace("64000", ""));
        Assert.Contains("MaxRequestCost", error);
        Assert.Equal(64000, json.GetProperty("cost").GetInt64());
        Assert.Equal(new ServingOptions().MaxRequestCost, json.GetProperty("limit").GetInt64());
        Assert.Equal(before, app.Host.ImagesSampled);  // refused before any work

        // Under the limit: a full grid of 64 at few steps is served.
        using var ok = await app.PostSamplesAsync("""{"label": 1, "steps": 2, "count": 64, "seed": 1}""");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var metrics = await app.Http.GetStringAsync("/metrics");
        Assert.Contains($"cad_sample_requests_total{{model=\"{TinySnapshots.ModelId}\",code=\"429\"}}", metrics);
    }

    [Fact]
    public async Task Waiting_cost_beyond_the_model_budget_is_429_and_frees_as_the_queue_drains()
    {
        var options = ServingTestApp.FastOptions with { MaxRequestCost = 4000, MaxQueuedCost = 4000 };
        // The waiting budget is the binding one here: each request alone is well under MaxRequestCost.
        await using var app = await ServingTestApp.StartAsync(options: options);
        // A long batch holds the sampling thread, so what comes next waits.
        var blocker = app.PostSamplesAsync("""{"label": 0, "steps": 1000, "count": 4, "seed": 1}""");
        await WaitUntilAsync(() => app.Host.Running == 1 && app.Host.QueueLength == 0, Patience, () => "the long request to run", FastPoll);
        var waiting = app.PostSamplesAsync("""{"label": 1, "steps": 1000, "count": 3, "seed": 2}""");  // cost 3000 waits
        await WaitUntilAsync(() => app.Host.QueuedCost == 3000 || waiting.IsCompleted, Patience, () => "3000 of the cost budget to wait", FastPoll);
        output.WriteLine($"queued cost {app.Host.QueuedCost}, long request running: {!blocker.IsCompleted}");
        Assert.False(blocker.IsCompleted, "the long request ended before the queue filled: make it longer");

        using var refused = await app.PostSamplesAsync("""{"label": 2, "steps": 500, "count": 3, "seed": 3}""");  // 1500 more: over 4000
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString()!;
        Assert.Contains("MaxQueuedCost", error);
        Assert.Contains("3000", error);

        using var small = await app.PostSamplesAsync("""{"label": 2, "steps": 250, "count": 4, "seed": 4}""");  // 1000 fits beside it
        Assert.Equal(HttpStatusCode.OK, small.StatusCode);
        using (var w = await waiting) Assert.Equal(HttpStatusCode.OK, w.StatusCode);
        using (var b = await blocker) Assert.Equal(HttpStatusCode.OK, b.StatusCode);
        Assert.Equal(0, app.Host.QueuedCost);
    }

    [Fact]
    public async Task A_client_that_goes_away_frees_its_queue_slot_at_once_and_is_never_sampled()
    {
        var options = ServingTestApp.FastOptions with { MaxQueuedRequests = 1, MaxRequestCost = 8 * 1000, MaxQueuedCost = 8 * 1000 };
        await using var app = await ServingTestApp.StartAsync(options: options);
        long sampledBefore = app.Host.ImagesSampled;
        var clock = Stopwatch.StartNew();

        // A: a long request that holds the sampling thread.
        var a = app.PostSamplesAsync("""{"label": 1, "steps": 1000, "count": 8, "seed": 1}""");
        await WaitUntilAsync(() => app.Host.Running == 1 && app.Host.QueueLength == 0, Patience, () => "request A to run", FastPoll);

        // B takes the one queue slot; with it taken, another request is refused.
        using var giveUp = new CancellationTokenSource();
        var b = app.Http.PostAsync(SamplesPath, Json("""{"label": 2, "steps": 5, "count": 2, "seed": 2}"""), giveUp.Token);
        await WaitUntilAsync(() => app.Host.QueueLength == 1, Patience, () => "request B to wait in the queue", FastPoll);
        using (var full = await app.PostSamplesAsync("""{"label": 3, "steps": 5, "count": 4, "seed": 3}"""))
            Assert.Equal(HttpStatusCode.TooManyRequests, full.StatusCode);

        // B's client goes away: its slot is free while A still runs, not only when the sampling thread looks again.
        giveUp.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => b);
        await WaitUntilAsync(() => app.Host.QueueLength == 0 && app.Host.RequestsDropped == 1, Patience, () => "B's slot to be freed", FastPoll);
        output.WriteLine($"B's slot was free {clock.Elapsed.TotalSeconds:F2} s after A started; A still running: {!a.IsCompleted}");
        Assert.False(a.IsCompleted, "request A ended before B was freed: the slot may have been freed by the worker, make A longer");
        Assert.Equal(1, app.Host.Running);

        // C is accepted into the freed slot (it waits behind A) rather than refused.
        var c = app.PostSamplesAsync("""{"label": 3, "steps": 5, "count": 4, "seed": 3}""");
        await WaitUntilAsync(() => app.Host.QueueLength == 1 || c.IsCompleted, Patience, () => "request C to be queued", FastPoll);
        using (var answer = await c) Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        using (var answer = await a) Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        output.WriteLine($"A and C answered after {clock.Elapsed.TotalSeconds:F2} s");
        // A's 8 images and C's 4: B's 2 were never sampled.
        Assert.Equal(8 + 4, app.Host.ImagesSampled - sampledBefore);
        Assert.Equal(0, app.Host.QueuedCost);
    }
}
