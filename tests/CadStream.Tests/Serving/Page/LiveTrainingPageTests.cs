using System.Diagnostics;
using System.Net;
using System.Text.Json;
using CadStream.Data;
using CadStream.Host.Cluster;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Ingress.Producing;
using CadStream.Records;
using CadStream.Tests.Host.Cluster;
using Microsoft.Playwright;
using SkiaSharp;
using Xunit.Abstractions;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;
using CadStream.Catalog;

namespace CadStream.Tests.Serving.Page;

/// <summary>
/// A node with every role training a CAD model and a baseline side by side on a stream of label-noised
/// Fashion-MNIST (a producer keeps sending while the tests run), judged by a small clean-label classifier,
/// with the live sample quality measured often; and Chromium for its page.
/// </summary>
public sealed class LiveTrainingFixture : IAsyncLifetime
{
    // A long id, as real ones may be: the page must wrap it, not run past the screen's edge.
    public const string Cad = "live-cad", Baseline = "live-baseline-fashion-mnist-width-16-with-classic-guidance";

    readonly Stopwatch clock = Stopwatch.StartNew();
    readonly CancellationTokenSource stopProducing = new();
    Task? producing;
    IPlaywright? playwright;

    public System.Collections.Concurrent.ConcurrentQueue<string> Log { get; } = new();
    public string Folder { get; } = TempFolder("live");
    public EmbeddedKafka Kafka { get; private set; } = null!;
    public CadStreamNode Node { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;

    void Write(string line) => Log.Enqueue($"{clock.Elapsed.TotalSeconds,7:F2} {line}");

    public async Task InitializeAsync()
    {
        // A judge good enough to tell classes apart, trained in seconds on a slice of the clean labels.
        var classifierPath = CadStream.Tests.Model.TestClassifier.File;
        Write($"classifier ready after {clock.Elapsed.TotalSeconds:F1} s");
        var train = FashionMnist.Load(train: true);

        Kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 2 });
        var models = new[] { TinyModel(Cad), TinyModel(Baseline) with { Mode = TrainingMode.Baseline, Guidance = 0 } }
            .Select(m => m with { SnapshotEverySteps = 20 }).ToArray();
        var settings = Settings(["ingress", "scorer", "trainer", "serving"], models, Kafka.BootstrapServers, folder: Path.Combine(Folder, "snapshots"));
        settings = settings with
        {
            // Enough kept versions that the page's pick is still there when it asks for it.
            Snapshots = settings.Snapshots with { Keep = 100 },
            Scoring = settings.Scoring with { Classifier = classifierPath },
            Serving = settings.Serving with { QualityEverySeconds = 1, QualitySteps = 3, QualityPerClass = 1 },
        };
        Node = await CadStreamNode.StartAsync(settings, new LineLoggerProvider(Write));
        Http = new HttpClient { BaseAddress = new Uri(Node.HttpUrl), Timeout = TimeSpan.FromSeconds(60) };

        var stream = FashionPairStream.Create(train, LabelNoiseKind.Entropy, 0.5, null, seed: 3, size: 2000);
        producing = Task.Run(() =>
        {
            using var producer = new PairProducer(Kafka.BootstrapServers, IngressTopics.Pairs, PairFormat.Json);
            PairStreaming.Run(producer, stream.Pairs(0), 0, rate: 40, cancel: stopProducing.Token);
        });

        // Both models trained, stored, loaded and judged at least twice (two snapshots: a version to pick).
        await WaitUntilAsync(async () => await QualityVersionAsync(Cad) >= 2 && await QualityVersionAsync(Baseline) >= 2,
            TimeSpan.FromSeconds(120), () => "both models judged on their second snapshot");
        Write("both models have live sample quality");
        (playwright, Browser) = await BrowserFixture.LaunchAsync();
    }

    async Task<long> QualityVersionAsync(string model)
    {
        var q = (await HistoryAsync(model)).GetProperty("quality");
        return q.ValueKind == JsonValueKind.Object ? q.GetProperty("snapshotVersion").GetInt64() : 0;
    }

    public async Task<JsonElement> HistoryAsync(string model) => await GetJsonAsync(Http, $"/v1/models/{model}/history");

    public async Task DisposeAsync()
    {
        stopProducing.Cancel();
        if (producing is not null) await producing.ContinueWith(_ => { });
        if (Browser is not null) await Browser.CloseAsync();
        playwright?.Dispose();
        Http?.Dispose();
        if (Node is not null) await Node.DisposeAsync();
        Kafka?.Dispose();
        Directory.Delete(Folder, recursive: true);
    }
}

/// <summary>The live training figures of a running node: its history endpoint, live sample accuracy, and the page that draws them.</summary>
[Collection(ClusterCollection.Name)]
public sealed class LiveTrainingPageTests(LiveTrainingFixture live, ITestOutputHelper output) : IClassFixture<LiveTrainingFixture>, IDisposable
{
    public void Dispose()
    {
        foreach (var line in live.Log) output.WriteLine(line);
    }

    [Fact]
    public async Task History_and_live_sample_accuracy_come_from_the_running_node()
    {
        // Enough points for a rate (the node measures steps/s over at least 5 s).
        await WaitUntilAsync(async () => (await live.HistoryAsync(LiveTrainingFixture.Cad)).GetProperty("points").EnumerateArray()
            .Any(p => p.GetProperty("stepsPerSecond").ValueKind == JsonValueKind.Number), TimeSpan.FromSeconds(60), () => "a steps/s figure");
        var h = await live.HistoryAsync(LiveTrainingFixture.Cad);
        Assert.Equal(LiveTrainingFixture.Cad, h.GetProperty("model").GetString());
        var points = h.GetProperty("points").EnumerateArray().ToArray();
        Assert.True(points.Length >= 2, $"{points.Length} points");
        var last = points[^1];
        Assert.True(last.GetProperty("step").GetInt64() > 0);
        Assert.Equal(JsonValueKind.Number, last.GetProperty("loss").ValueKind);
        Assert.True(last.GetProperty("snapshotVersion").GetInt64() >= 1);
        Assert.True(points.Zip(points.Skip(1)).All(p => p.First.GetProperty("t").GetInt64() <= p.Second.GetProperty("t").GetInt64()), "points out of order");
        // The coherence distribution of the stream's recent pairs: entropy noise spreads it over every bin.
        var coherence = h.GetProperty("coherence");
        Assert.Equal(11, coherence.GetProperty("edges").GetArrayLength());
        var counts = coherence.GetProperty("counts").EnumerateArray().Select(c => c.GetInt32()).ToArray();
        Assert.Equal(10, counts.Length);
        Assert.True(counts.Sum() > 0 && counts.Count(c => c > 0) >= 5, $"counts {string.Join(",", counts)}");

        // Live sample quality: accuracy at c = 1 and, for the CAD model, at c = 0; the grid is the fixed set.
        var q = h.GetProperty("quality");
        var accuracy = q.GetProperty("accuracy").GetDouble();
        Assert.InRange(accuracy, 0, 1);
        Assert.InRange(q.GetProperty("accuracyAtZero").GetDouble(), 0, 1);
        using (var grid = SKBitmap.Decode(Convert.FromBase64String(q.GetProperty("grid").GetString()!)))
        {
            Assert.NotNull(grid);
            Assert.Equal(10 * 28 * 2 + 11 * 2, grid.Width);  // ten classes side by side, scaled by 2 with 2 px gaps
        }
        Assert.Contains(points, p => p.GetProperty("accuracy").ValueKind == JsonValueKind.Number);
        var baseline = (await live.HistoryAsync(LiveTrainingFixture.Baseline)).GetProperty("quality");
        Assert.Equal(JsonValueKind.Number, baseline.GetProperty("accuracy").ValueKind);
        Assert.Equal(JsonValueKind.Null, baseline.GetProperty("accuracyAtZero").ValueKind);

        // The Prometheus gauge and /v1/status carry the same figure.
        var metrics = await live.Http.GetStringAsync("/metrics");
        Assert.Matches($"cad_sample_accuracy{{model=\"{LiveTrainingFixture.Cad}\",coherence=\"1\"}} [0-9.]+", metrics);
        Assert.Matches($"cad_sample_accuracy{{model=\"{LiveTrainingFixture.Cad}\",coherence=\"0\"}} [0-9.]+", metrics);
        Assert.Matches($"cad_sample_accuracy{{model=\"{LiveTrainingFixture.Baseline}\",coherence=\"1\"}} [0-9.]+", metrics);
        Assert.DoesNotContain($"cad_sample_accuracy{{model=\"{LiveTrainingFixture.Baseline}\",coherence=\"0\"}}", metrics);
        var status = await GetJsonAsync(live.Http, "/v1/status");
        var cad = status.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("id").GetString() == LiveTrainingFixture.Cad);
        Assert.InRange(cad.GetProperty("sampleQuality").GetProperty("accuracy").GetDouble(), 0, 1);

        using var unknown = await live.Http.GetAsync("/v1/models/nope/history");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task The_page_draws_live_charts_and_grids_resamples_the_compare_view_and_picks_a_version()
    {
        var page = await live.Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        page.SetDefaultTimeout(60_000);
        var problems = new List<string>();
        page.PageError += (_, e) => { lock (problems) problems.Add("page error: " + e); };
        page.Console += (_, m) => { if (m.Type == "error") lock (problems) problems.Add($"console error: {m.Text}"); };
        try
        {
            Assert.Equal(200, (await page.GotoAsync(live.Node.HttpUrl + "/"))!.Status);

            // Charts with data from the node: a loss and a steps/s line per model, accuracy lines, coherence bars.
            await page.WaitForFunctionAsync("() => document.querySelectorAll('#chart-loss path.series').length >= 2");
            await page.WaitForFunctionAsync("() => document.querySelectorAll('#chart-rate path.series').length >= 1");
            await page.WaitForFunctionAsync("() => document.querySelectorAll('#chart-accuracy path.series').length >= 2");
            await page.WaitForFunctionAsync("() => document.querySelectorAll('#chart-coherence rect.bar').length >= 10");

            // The latest grids side by side, CAD first.
            foreach (var model in new[] { LiveTrainingFixture.Cad, LiveTrainingFixture.Baseline })
                await page.WaitForFunctionAsync($"() => {{ const i = document.querySelector('#grid-{model} img'); return i && i.complete && i.naturalWidth > 0; }}");
            var order = await page.EvalOnSelectorAllAsync<string[]>(".grid-card", "cards => cards.map(c => c.id)");
            Assert.Equal($"grid-{LiveTrainingFixture.Cad}", order[0]);

            // The compare view samples three rows, and again when a slider moves.
            await page.WaitForSelectorAsync("#compare-rows[data-state=done]");
            Assert.Equal(3, await page.Locator("#compare-rows .compare-row").CountAsync());
            Assert.Equal(12, await page.Locator("#compare-rows img").CountAsync());
            var firstRun = await page.GetAttributeAsync("#compare-rows", "data-run");
            var before = JsonDocument.Parse((await page.GetAttributeAsync("#compare-rows", "data-request"))!).RootElement.GetProperty("guidance").GetDouble();
            await page.Locator("#compare-guidance").FocusAsync();
            await page.Keyboard.PressAsync("ArrowRight");
            await page.Keyboard.PressAsync("ArrowRight");
            await page.WaitForFunctionAsync($"() => {{ const r = document.getElementById('compare-rows'); return r.dataset.state === 'done' && r.dataset.run !== '{firstRun}'; }}");
            var after = JsonDocument.Parse((await page.GetAttributeAsync("#compare-rows", "data-request"))!).RootElement.GetProperty("guidance").GetDouble();
            Assert.Equal(before + 1.0, after, 9);

            // A kept older version can be picked and is what the images come from.
            await page.SelectOptionAsync("#model", LiveTrainingFixture.Cad);
            await page.WaitForFunctionAsync("() => document.querySelectorAll('#version option').length >= 3");
            var oldest = await page.EvalOnSelectorAsync<string>("#version", "s => s.options[s.options.length - 1].value");
            await page.SelectOptionAsync("#version", oldest);
            await page.FillAsync("#steps", "4");
            await page.FillAsync("#count", "2");
            await page.FillAsync("#seed", "5");
            await page.ClickAsync("#sample");
            await page.WaitForFunctionAsync($"() => document.getElementById('meta').textContent.includes('snapshot v{oldest},') || document.getElementById('error').textContent !== ''");
            Assert.Equal("", (await page.Locator("#error").TextContentAsync())?.Trim());
            Assert.Equal(2, await page.Locator("#images img").CountAsync());

            var shot = BrowserFixture.ScreenshotPath("live-training-page.png");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
            output.WriteLine("screenshot: " + shot);
            lock (problems) Assert.True(problems.Count == 0, string.Join("\n", problems));
        }
        finally { await page.CloseAsync(); }
    }


    [Fact]
    public async Task The_page_fits_a_laptop_and_a_phone_and_every_figure_has_a_value()
    {
        var page = await live.Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } });
        page.SetDefaultTimeout(60_000);
        var problems = new List<string>();
        page.PageError += (_, e) => { lock (problems) problems.Add("page error: " + e); };
        try
        {
            Assert.Equal(200, (await page.GotoAsync(live.Node.HttpUrl + "/"))!.Status);
            // Full panels: every chart drawn, both grids, the compare rows, and a judged reading of every model in the status panel.
            await page.WaitForFunctionAsync("() => document.querySelectorAll('#chart-loss path.series').length >= 2 && " +
                "document.querySelectorAll('#chart-rate path.series').length >= 1 && document.querySelectorAll('#chart-accuracy path.series').length >= 2 && " +
                "document.querySelectorAll('#chart-coherence rect.bar').length >= 10 && document.querySelectorAll('.grid-card img').length === 2");
            await page.WaitForSelectorAsync("#compare-rows[data-state=done]");
            await page.WaitForFunctionAsync("() => { const rows = [...document.querySelectorAll('#status tr')].filter(r => r.cells[0].textContent.trim() === 'accuracy'); " +
                "return rows.length === 2 && rows.every(r => /^[01]\\.[0-9]{2} /.test(r.cells[1].textContent)); }");

            foreach (var (width, height) in new[] { (1280, 800), (390, 844) })
            {
                await page.SetViewportSizeAsync(width, height);
                var shot = BrowserFixture.ScreenshotPath($"live-training-page-{width}.png");
                await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
                output.WriteLine("screenshot: " + shot);
                var (scroll, inner) = await WidthsAsync(page);
                Assert.True(scroll <= inner, $"at {width}x{height} the page is {scroll} px wide in a {inner} px window (it scrolls sideways)");
                // Nothing sticks out of its panel either (the node address, the long model id).
                var outside = await page.EvaluateAsync<string[]>("() => [...document.querySelectorAll('main section')].flatMap(s => { const r = s.getBoundingClientRect(); " +
                    "return [...s.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > r.right + 0.5).map(e => s.id + ' ' + e.tagName + ': ' + (e.textContent || '').slice(0, 60)); })");
                Assert.True(outside.Length == 0, $"at {width} px these run past their panel's right edge:\n{string.Join("\n", outside.Take(10))}");
            }

            // Every figure has a value: no placeholder, NaN or undefined in the status panel, the captions or the charts.
            var cells = await page.EvalOnSelectorAllAsync<string[]>("#status td:nth-child(2)", "cells => cells.map(c => c.textContent.trim())");
            Assert.NotEmpty(cells);
            Assert.All(cells, c => Assert.True(c is not ("" or "–" or "-") && !c.Contains("NaN") && !c.Contains("undefined") && !c.Contains("null"), $"status cell '{c}'"));
            var text = await page.EvaluateAsync<string>("() => document.body.innerText + [...document.querySelectorAll('svg text')].map(t => t.textContent).join(' ')");
            foreach (var bad in new[] { "NaN", "undefined", "null", "no data yet", "waiting for" }) Assert.DoesNotContain(bad, text);
            lock (problems) Assert.True(problems.Count == 0, string.Join("\n", problems));
        }
        finally { await page.CloseAsync(); }
    }

    static async Task<(int Scroll, int Inner)> WidthsAsync(IPage page)
    {
        var w = await page.EvaluateAsync<int[]>("() => [document.documentElement.scrollWidth, window.innerWidth]");
        return (w[0], w[1]);
    }
}
