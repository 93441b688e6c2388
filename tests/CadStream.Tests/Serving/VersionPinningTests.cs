using CadStream.Serving;
using System.Net;
using System.Text;
using System.Text.Json;

namespace CadStream.Tests.Serving;

/// <summary>
/// Version pinning and rollback on the real serving app: a request may name a kept version, a pin holds a
/// model on one version across new snapshots, and an unpin returns it to the newest.
/// </summary>
public sealed class VersionPinningTests
{
    static async Task<long> SampledVersionAsync(ServingTestApp app, string extra = "")
    {
        using var r = await app.PostSamplesAsync($$"""{"label": 2, "steps": 2, "seed": 9, "format": "json"{{extra}}}""");
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, body);
        var version = JsonDocument.Parse(body).RootElement.GetProperty("snapshotVersion").GetInt64();
        Assert.Equal(version.ToString(), r.Headers.GetValues("X-Snapshot-Version").Single());
        return version;
    }

    static async Task<JsonElement> ModelAsync(ServingTestApp app)
    {
        var models = JsonDocument.Parse(await app.Http.GetStringAsync("/v1/models")).RootElement;
        return models.EnumerateArray().Single(m => m.GetProperty("id").GetString() == TinySnapshots.ModelId).Clone();
    }

    static Task<HttpResponseMessage> PinAsync(ServingTestApp app, string json) =>
        app.Http.PutAsync($"/v1/models/{TinySnapshots.ModelId}/pin", new StringContent(json, Encoding.UTF8, "application/json"));

    [Fact]
    public async Task Rebuilding_a_version_not_kept_loaded_costs_the_request_and_one_over_its_budget_is_429()
    {
        // Budget 100, rebuild 90: a 20-step request for a version not loaded costs 110; for the one served, 20.
        await using var app = await ServingTestApp.StartAsync(options: new ServingOptions { MaxRequestCost = 100, MaxQueuedCost = 400, DefaultSteps = 15, VersionRebuildCost = 90 });
        await app.Store.PublishAsync(TinySnapshots.ModelId, TinySnapshots.V2, 2, 2, 16);
        await app.WaitForVersionAsync(2);

        using var costly = await app.PostSamplesAsync("""{"label": 2, "steps": 20, "format": "json", "snapshotVersion": 1}""");
        Assert.Equal((HttpStatusCode)429, costly.StatusCode);
        Assert.Contains("VersionRebuildCost", JsonDocument.Parse(await costly.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
        Assert.Equal(2, await SampledVersionAsync(app, """, "snapshotVersion": 2"""));  // served now: no rebuild to pay
        // Within the budget with the rebuild (5 + 90), the old version is loaded and then kept: costs 20 again.
        using var paid = await app.PostSamplesAsync("""{"label": 2, "steps": 5, "format": "json", "snapshotVersion": 1}""");
        Assert.Equal(HttpStatusCode.OK, paid.StatusCode);
        Assert.Equal(1, JsonDocument.Parse(await paid.Content.ReadAsStringAsync()).RootElement.GetProperty("snapshotVersion").GetInt64());
        using var kept = await app.PostSamplesAsync("""{"label": 2, "steps": 20, "format": "json", "snapshotVersion": 1}""");
        Assert.Equal(HttpStatusCode.OK, kept.StatusCode);
    }

    [Fact]
    public async Task A_request_names_a_kept_version_and_an_unknown_one_is_404()
    {
        await using var app = await ServingTestApp.StartAsync();
        await app.Store.PublishAsync(TinySnapshots.ModelId, TinySnapshots.V2, 2, 2, 16);
        await app.WaitForVersionAsync(2);

        Assert.Equal(2, await SampledVersionAsync(app));
        Assert.Equal(1, await SampledVersionAsync(app, """, "snapshotVersion": 1"""));
        Assert.Equal(2, await SampledVersionAsync(app, """, "snapshotVersion": 2"""));
        // The same seed on the same version gives the same images; another version other weights.
        var a = await app.PostSamplesAsync("""{"label": 2, "steps": 3, "seed": 9, "snapshotVersion": 1}""");
        var b = await app.PostSamplesAsync("""{"label": 2, "steps": 3, "seed": 9, "snapshotVersion": 1}""");
        var c = await app.PostSamplesAsync("""{"label": 2, "steps": 3, "seed": 9, "snapshotVersion": 2}""");
        Assert.Equal(await a.Content.ReadAsByteArrayAsync(), await b.Content.ReadAsByteArrayAsync());
        Assert.NotEqual(await a.Content.ReadAsByteArrayAsync(), await c.Content.ReadAsByteArrayAsync());

        using var unknown = await app.PostSamplesAsync("""{"label": 2, "steps": 2, "snapshotVersion": 99}""");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        var error = JsonDocument.Parse(await unknown.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString();
        Assert.Contains("v99", error);
        Assert.Contains("v1, v2", error);  // says which versions are kept

        var model = await ModelAsync(app);
        Assert.Equal([1L, 2L], model.GetProperty("keptVersions").EnumerateArray().Select(v => v.GetInt64()));
    }

    [Fact]
    public async Task A_pin_holds_across_a_new_snapshot_and_an_unpin_returns_to_the_newest()
    {
        await using var app = await ServingTestApp.StartAsync();
        await app.Store.PublishAsync(TinySnapshots.ModelId, TinySnapshots.V2, 2, 2, 16);
        await app.WaitForVersionAsync(2);

        using (var pinned = await PinAsync(app, """{"version": 1}"""))
        {
            Assert.Equal(HttpStatusCode.OK, pinned.StatusCode);
            var body = JsonDocument.Parse(await pinned.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(1, body.GetProperty("pinnedVersion").GetInt64());
            Assert.Equal(1, body.GetProperty("snapshotVersion").GetInt64());  // rolled back at once
        }
        Assert.Equal(1, await SampledVersionAsync(app));
        Assert.Equal(1, (await ModelAsync(app)).GetProperty("pinnedVersion").GetInt64());

        // A new snapshot arrives (the follower hears of it): the pin holds.
        await app.Store.PublishAsync(TinySnapshots.ModelId, TinySnapshots.V3, 3, 3, 24);
        await app.FollowerCheckedAsync();  // the store's notice or a poll after it: the follower knows of v3
        Assert.Equal(1, app.Host.Current?.Version);
        Assert.Equal(1, await SampledVersionAsync(app));
        Assert.Equal(3, await SampledVersionAsync(app, """, "snapshotVersion": 3"""));  // still reachable by name

        using (var unpinned = await app.Http.DeleteAsync($"/v1/models/{TinySnapshots.ModelId}/pin"))
        {
            Assert.Equal(HttpStatusCode.OK, unpinned.StatusCode);
            Assert.Equal(3, JsonDocument.Parse(await unpinned.Content.ReadAsStringAsync()).RootElement.GetProperty("snapshotVersion").GetInt64());
        }
        Assert.Equal(3, await SampledVersionAsync(app));
        Assert.Equal(JsonValueKind.Null, (await ModelAsync(app)).GetProperty("pinnedVersion").ValueKind);

        // A version the store does not keep cannot be pinned; nor can a model that is not served.
        using (var missing = await PinAsync(app, """{"version": 42}""")) Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using (var bad = await PinAsync(app, """{"version": "one"}""")) Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        using (var other = await app.Http.PutAsync("/v1/models/nope/pin", new StringContent("""{"version": 1}""", Encoding.UTF8, "application/json")))
            Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        Assert.Equal(3, app.Host.Current?.Version);
    }

    [Fact]
    public async Task A_pin_from_the_configuration_rolls_back_at_start()
    {
        await using var app = await ServingTestApp.StartAsync(publishV1: false,
            options: ServingTestApp.FastOptions with { Pins = new() { [TinySnapshots.ModelId] = 1 } });
        await app.Store.PublishAsync(TinySnapshots.ModelId, TinySnapshots.V1, 1, 1, 8);
        await app.Store.PublishAsync(TinySnapshots.ModelId, TinySnapshots.V2, 2, 2, 16);
        await app.WaitForVersionAsync(1);
        await app.FollowerCheckedAsync();  // v2 was in the store all along: checked again, it is not taken
        Assert.Equal(1, app.Host.Current?.Version);
        Assert.Equal(1, app.Host.PinnedVersion);
    }
}
