using System.Net;
using System.Text.Json;
using CadStream.Data;
using CadStream.Evaluation;
using CadStream.Serving;
using SkiaSharp;
using static CadStream.Tests.Serving.HttpErrors;

namespace CadStream.Tests.Serving;

/// <summary>One app with snapshot v1 loaded, shared by the tests of <see cref="ServingHttpTests"/>.</summary>
public sealed class ServingAppFixture : IAsyncLifetime
{
    public ServingTestApp Test { get; private set; } = null!;

    public async Task InitializeAsync() => Test = await ServingTestApp.StartAsync(status: new StaticNodeStatus(new NodeStatus
    {
        NodeId = "node-a",
        // Kafka and its lag are an ingress node's.
        Roles = ["ingress", "serving"],
        Members = ["node-a", "node-b"],
        KafkaBootstrap = "127.0.0.1:9092",
        ConsumerLag = [new ConsumerLag("cad.pairs", 0, 5), new ConsumerLag("cad.pairs", 1, 7)],
        Training = new Dictionary<string, TrainingStatus> { [TinySnapshots.ModelId] = new(120, 7680, 0.25) },
    }));

    public async Task DisposeAsync() => await Test.DisposeAsync();
}

/// <summary>The HTTP API of contract section 4 against the real Kestrel server.</summary>
public sealed class ServingHttpTests(ServingAppFixture fixture) : IClassFixture<ServingAppFixture>
{
    ServingTestApp App => fixture.Test;

    static async Task<JsonElement> JsonOf(HttpResponseMessage r)
    {
        Assert.StartsWith("application/json", r.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        return doc.RootElement.Clone();
    }

    [Fact]
    public async Task Healthz_says_ok()
    {
        var r = await App.Http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("ok", await r.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Readyz_is_503_until_a_snapshot_is_loaded_then_200()
    {
        await using var empty = await ServingTestApp.StartAsync(publishV1: false);
        Assert.Contains("no model", await ErrorOf(await empty.Http.GetAsync("/readyz"), HttpStatusCode.ServiceUnavailable));
        var noSnapshot = await ErrorOf(await empty.PostSamplesAsync("""{"label": 1}"""), HttpStatusCode.ServiceUnavailable);
        Assert.Contains("no snapshot", noSnapshot);
        var models = await JsonOf(await empty.Http.GetAsync("/v1/models"));
        Assert.Equal(JsonValueKind.Null, models[0].GetProperty("snapshotVersion").ValueKind);

        await empty.Store.PublishAsync(TinySnapshots.ModelId, TinySnapshots.V1, 1, 1, 8);
        await empty.WaitForVersionAsync(1);
        var r = await empty.Http.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    [Fact]
    public async Task Models_lists_id_kind_mode_classes_and_snapshot_figures()
    {
        var models = await JsonOf(await App.Http.GetAsync("/v1/models"));
        var m = Assert.Single(models.EnumerateArray());
        Assert.Equal(TinySnapshots.ModelId, m.GetProperty("id").GetString());
        Assert.Equal("class", m.GetProperty("kind").GetString());
        Assert.Equal("cad", m.GetProperty("mode").GetString());
        Assert.Equal(FashionMnist.ClassNames, m.GetProperty("classes").EnumerateArray().Select(c => c.GetString()!).ToArray());
        Assert.Equal(1, m.GetProperty("snapshotVersion").GetInt64());
        Assert.Equal(1, m.GetProperty("steps").GetInt64());
        Assert.Equal(8, m.GetProperty("samplesSeen").GetInt64());
        Assert.True(m.GetProperty("updated").GetInt64() > 1_700_000_000_000);
    }

    [Fact]
    public async Task Status_shows_roles_members_kafka_lag_and_model_figures()
    {
        var s = await JsonOf(await App.Http.GetAsync("/v1/status"));
        Docs.StatusShape.AssertFollowsTheDocs(s);
        Assert.Equal(["ingress", "serving"], s.GetProperty("node").GetProperty("roles").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(2, s.GetProperty("cluster").GetProperty("members").GetArrayLength());
        Assert.Equal("127.0.0.1:9092", s.GetProperty("kafka").GetProperty("bootstrap").GetString());
        Assert.Equal(12, s.GetProperty("kafka").GetProperty("totalLag").GetInt64());
        Assert.Equal(2, s.GetProperty("kafka").GetProperty("consumerLag").GetArrayLength());
        var m = Assert.Single(s.GetProperty("models").EnumerateArray());
        Assert.Equal(1, m.GetProperty("snapshotVersion").GetInt64());
        Assert.Equal(8, m.GetProperty("samplesSeen").GetInt64());
        Assert.Equal(0.25, m.GetProperty("training").GetProperty("loss").GetDouble());
        Assert.Equal(120, m.GetProperty("training").GetProperty("steps").GetInt64());
    }

    [Fact]
    public async Task Png_format_is_one_grid_with_the_snapshot_version()
    {
        var r = await App.PostSamplesAsync("""{"label": "Sneaker", "coherence": 0.8, "guidance": 2, "steps": 3, "seed": 5, "count": 3}""");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("image/png", r.Content.Headers.ContentType?.MediaType);
        Assert.Equal("1", Assert.Single(r.Headers.GetValues("X-Snapshot-Version")));
        var png = await r.Content.ReadAsByteArrayAsync();
        using var bitmap = SKBitmap.Decode(png);
        Assert.NotNull(bitmap);
        // 3 columns of 28 px images at scale 2 with 2 px gaps.
        Assert.Equal(3 * 56 + 4 * 2, bitmap.Width);
        Assert.Equal(56 + 2 * 2, bitmap.Height);
    }

    [Fact]
    public async Task Json_format_has_one_png_per_image_and_the_version()
    {
        var r = await App.PostSamplesAsync("""{"label": 7, "steps": 3, "seed": 1, "count": 4, "format": "json", "sampler": "ddpm"}""");
        var json = await JsonOf(r);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal(1, json.GetProperty("snapshotVersion").GetInt64());
        var images = json.GetProperty("images").EnumerateArray().Select(e => Convert.FromBase64String(e.GetString()!)).ToArray();
        Assert.Equal(4, images.Length);
        foreach (var png in images)
        {
            using var bitmap = SKBitmap.Decode(png);
            Assert.Equal((28, 28), (bitmap.Width, bitmap.Height));
        }
    }

    [Fact]
    public async Task Same_seed_and_inputs_give_identical_bytes()
    {
        const string body = """{"label": 2, "coherence": 0.5, "steps": 4, "seed": 1234, "count": 2}""";
        var a = await (await App.PostSamplesAsync(body)).Content.ReadAsByteArrayAsync();
        var b = await (await App.PostSamplesAsync(body)).Content.ReadAsByteArrayAsync();
        var other = await (await App.PostSamplesAsync(body.Replace("1234", "1235"))).Content.ReadAsByteArrayAsync();
        Assert.Equal(a, b);
        Assert.NotEqual(a, other);
        // Without a seed the server picks one and says which, so the images can be made again.
        var r = await App.PostSamplesAsync("""{"label": 2, "coherence": 0.5, "steps": 4, "count": 2}""");
        var seed = Assert.Single(r.Headers.GetValues("X-Seed"));
        var again = await (await App.PostSamplesAsync(body.Replace("1234", seed))).Content.ReadAsByteArrayAsync();
        Assert.Equal(await r.Content.ReadAsByteArrayAsync(), again);
    }

    [Fact]
    public async Task Dpm_plus_plus_serves_and_the_configured_default_sampler_and_steps_apply_when_a_request_names_none()
    {
        const string explicitDpm = """{"label": 3, "steps": 6, "sampler": "dpm++", "seed": 77, "count": 2}""";
        var dpm = await App.PostSamplesAsync(explicitDpm);
        Assert.Equal(HttpStatusCode.OK, dpm.StatusCode);
        var dpmBytes = await dpm.Content.ReadAsByteArrayAsync();
        Assert.Equal(("dpm++", "6"), (Assert.Single(dpm.Headers.GetValues("X-Sampler")), Assert.Single(dpm.Headers.GetValues("X-Steps"))));
        var plain = await App.PostSamplesAsync("""{"label": 3, "seed": 77, "count": 2}""");
        Assert.Equal(("ddim", "4"), (Assert.Single(plain.Headers.GetValues("X-Sampler")), Assert.Single(plain.Headers.GetValues("X-Steps"))));
        // A server whose defaults are dpm++ at 6 steps answers a request naming neither with exactly those images.
        await using var other = await ServingTestApp.StartAsync(options: ServingTestApp.FastOptions with { DefaultSteps = 6, DefaultSampler = "dpm++" });
        var byDefault = await other.PostSamplesAsync("""{"label": 3, "seed": 77, "count": 2}""");
        Assert.Equal(("dpm++", "6"), (Assert.Single(byDefault.Headers.GetValues("X-Sampler")), Assert.Single(byDefault.Headers.GetValues("X-Steps"))));
        Assert.Equal(dpmBytes, await byDefault.Content.ReadAsByteArrayAsync());
        Assert.Throws<ArgumentException>(() => (ServingTestApp.FastOptions with { DefaultSampler = "euler" }).Validate());
    }

    [Theory]
    [InlineData("""{"label": "Dragon"}""", "unknown class")]
    [InlineData("""{"label": 10}""", "outside")]
    [InlineData("""{"coherence": 0.5}""", "label is required")]
    [InlineData("""{"label": 1, "coherence": 1.5}""", "coherence")]
    [InlineData("""{"label": 1, "coherence": -0.1}""", "coherence")]
    [InlineData("""{"label": 1, "coherence": "high"}""", "coherence")]
    [InlineData("""{"label": 1, "steps": 0}""", "steps")]
    [InlineData("""{"label": 1, "steps": 1001}""", "steps")]
    [InlineData("""{"label": 1, "count": 0}""", "count")]
    [InlineData("""{"label": 1, "count": 65}""", "count")]
    [InlineData("""{"label": 1, "guidance": -1}""", "guidance")]
    [InlineData("""{"label": 1, "sampler": "euler"}""", "sampler")]
    [InlineData("""{"label": 1, "format": "gif"}""", "format")]
    [InlineData("""{"label": 1, "seed": -3}""", "seed")]
    [InlineData("""{"label": 1,""", "not JSON")]
    [InlineData("""label=1""", "not JSON")]
    [InlineData("", "not JSON")]
    [InlineData("""[1, 2]""", "JSON object")]
    public async Task Bad_input_is_400_with_a_json_error(string body, string expected)
    {
        var message = await ErrorOf(await App.PostSamplesAsync(body), HttpStatusCode.BadRequest);
        Assert.Contains(expected, message);
    }

    [Fact]
    public async Task Unknown_model_is_404_with_a_json_error()
    {
        var message = await ErrorOf(await App.PostSamplesAsync("""{"label": 1}""", model: "no-such-model"), HttpStatusCode.NotFound);
        Assert.Contains("no-such-model", message);
    }

    [Fact]
    public async Task Metrics_show_the_contract_names_after_requests()
    {
        Assert.Equal(HttpStatusCode.OK, (await App.PostSamplesAsync("""{"label": 0, "steps": 2, "seed": 3}""")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await App.PostSamplesAsync("""{"label": 0, "steps": 0}""")).StatusCode);
        var text = await App.Http.GetStringAsync("/metrics");
        Assert.Contains($"cad_sample_requests_total{{model=\"{TinySnapshots.ModelId}\",code=\"200\"}}", text);
        Assert.Contains($"cad_sample_requests_total{{model=\"{TinySnapshots.ModelId}\",code=\"400\"}}", text);
        Assert.Contains($"cad_sample_seconds_bucket{{model=\"{TinySnapshots.ModelId}\",le=", text);
        Assert.Contains($"cad_sample_seconds_count{{model=\"{TinySnapshots.ModelId}\"}}", text);
        // What serving answers with has its own name; the trainer's "newest stored" is cad_snapshot_version.
        Assert.Contains($"cad_serving_snapshot_version{{model=\"{TinySnapshots.ModelId}\"}} 1", text);
    }

    [Fact]
    public async Task Page_has_the_controls_with_stable_ids()
    {
        var r = await App.Http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("text/html", r.Content.Headers.ContentType?.MediaType);
        var html = await r.Content.ReadAsStringAsync();
        foreach (var id in new[] { "model", "class", "coherence", "guidance", "steps", "seed", "count", "sample", "images", "status" })
            Assert.Contains($"id=\"{id}\"", html);
        Assert.Contains("/v1/status", html);
        Assert.Contains("/v1/models", html);
        Assert.Contains("step=\"0.05\"", html);
    }
}
