using System.Net;
using System.Text.Json;
using CadStream.Catalog.Judging;
using CadStream.Host.Cluster;
using CadStream.Scoring;
using CadStream.Snapshots;
using CadStream.Tests.Model;
using CadStream.Tests.Serving.Page;
using CadStream.Tests.Serving;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;

namespace CadStream.Tests.Host.Cluster;

/// <summary>
/// `cadstream demo` in a fresh folder trains its clean-label classifier in the background: the node answers
/// meanwhile, says where the classifier stands, and its live sample quality waits for it, then begins.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClassifierInBackgroundTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_node_answers_while_its_classifier_trains_says_so_and_judges_samples_once_it_is_ready()
    {
        var log = new TestLog(output);
        var folder = TempFolder("judge");
        var classifierPath = Path.Combine(folder, "classifier.bin");
        var snapshots = Path.Combine(folder, "snapshots");
        await using (var store = new FolderSnapshotStore(snapshots))
            await store.PublishAsync(TinySnapshots.ModelId, TinySnapshots.V1, 1, 1, 8);

        // The real background training, with a training that the test holds at 40 % (the demo's takes minutes);
        // once let go it hands over a small real classifier, which the source saves where the node expects it.
        var letGo = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var source = ClassifierSource.Pending(classifierPath);
        source.TrainInBackground(progress =>
        {
            progress(0.4);
            letGo.Task.Wait();
            return new ClassifierResult(FashionClassifier.Load(TestClassifier.File), 0.8, TimeSpan.FromSeconds(1), 0.5);
        });

        var settings = Settings(["serving"], [TestModels.Fashion(TinySnapshots.ModelId)], folder: snapshots);
        settings = settings with
        {
            Serving = settings.Serving with { QualityEverySeconds = 0.5, QualitySteps = 2, QualityPerClass = 1 },
            Scoring = settings.Scoring with { Classifier = classifierPath },
        };
        CadStreamNode? node = null;
        try
        {
            node = await CadStreamNode.StartAsync(settings, new LineLoggerProvider(log.Write), classifier: source);
            using var http = Http(node);

            // It answers while the classifier trains, and says how far it is.
            Assert.Equal("ok", await http.GetStringAsync("/healthz"));
            Assert.Contains("<title>CadStream</title>", await http.GetStringAsync("/"));
            await WaitUntilAsync(async () => (await JudgeAsync(http)).TryGetProperty("progress", out var p) && p.ValueKind == JsonValueKind.Number
                && p.GetDouble() == 0.4, TimeSpan.FromSeconds(30), () => "the judge's progress of 40 %");
            var judge = await JudgeAsync(http);
            Assert.Equal("preparing", judge.GetProperty("state").GetString());
            Assert.False(judge.GetProperty("ready").GetBoolean());
            Assert.StartsWith("training 40 %", judge.GetProperty("text").GetString());

            // The quality monitor saw the loaded snapshot and held back: no reading, no image sampled, nothing failed.
            await WaitUntilAsync(() => log.Count($"model {TinySnapshots.ModelId}: live sample quality waits for the judge (training") == 1,
                TimeSpan.FromSeconds(30), () => "the quality monitor to wait for the judge");
            Assert.Equal(JsonValueKind.Null, (await HistoryQualityAsync(http)).ValueKind);
            var model = await StatusModelAsync(http);
            Assert.Equal(1, model.GetProperty("snapshotVersion").GetInt64());
            Assert.Equal(0, model.GetProperty("imagesSampled").GetInt64());
            Assert.Equal(JsonValueKind.Null, model.GetProperty("sampleQuality").ValueKind);
            Assert.Equal("ok", await http.GetStringAsync("/healthz"));

            // The page says so where the live accuracy would be.
            await PageShowsAsync(node.HttpUrl, "waiting for the classifier: training 40 %");

            // Once the classifier is made (and saved for later runs), readings begin.
            letGo.SetResult();
            await WaitUntilAsync(async () => (await HistoryQualityAsync(http)) is { ValueKind: JsonValueKind.Object } q
                && q.GetProperty("accuracy").ValueKind == JsonValueKind.Number, TimeSpan.FromSeconds(60), () => "a judged reading");
            judge = await JudgeAsync(http);
            Assert.True(judge.GetProperty("ready").GetBoolean());
            Assert.Equal("ready", judge.GetProperty("state").GetString());
            Assert.True(File.Exists(classifierPath), "the classifier was not saved");
            var quality = await HistoryQualityAsync(http);
            Assert.InRange(quality.GetProperty("accuracy").GetDouble(), 0, 1);
            Assert.Equal(10, quality.GetProperty("images").GetInt32());  // ten classes, one image each
            Assert.True((await StatusModelAsync(http)).GetProperty("imagesSampled").GetInt64() >= 10);
            var health = (await GetJsonAsync(http, "/v1/status")).GetProperty("health");
            Assert.True(health.GetProperty("healthy").GetBoolean());
            Assert.All(health.GetProperty("parts").EnumerateArray(), p => Assert.Equal(0, p.GetProperty("failures").GetInt32()));
        }
        finally
        {
            letGo.TrySetResult();
            Assert.True(source.Stop(TimeSpan.FromSeconds(30)), "the training thread did not end");
            if (node is not null) await node.DisposeAsync();
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Stopping_a_training_in_the_background_ends_its_thread_and_saves_nothing()
    {
        var folder = TempFolder("judge-stop");
        try
        {
            var path = Path.Combine(folder, "classifier.bin");
            var source = ClassifierSource.Pending(path);
            var running = new ManualResetEventSlim();
            int reports = 0;
            // A training that would never end: it reports progress until the source stops it.
            source.TrainInBackground(progress =>
            {
                while (true)
                {
                    progress(Math.Min(0.99, ++reports / 1000.0));
                    running.Set();
                    Thread.Sleep(1);
                }
            });
            Assert.True(running.Wait(TimeSpan.FromSeconds(30)), "the training never reported");
            Assert.Equal(JudgeReadiness.Preparing, source.State.Readiness);

            Assert.True(source.Stop(TimeSpan.FromSeconds(30)), "the training thread did not end");
            Assert.Equal(JudgeReadiness.Failed, source.State.Readiness);
            Assert.Contains("stopped", source.State.Text);
            Assert.True(source.Ready.IsFaulted);
            Assert.False(File.Exists(path));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    static async Task<JsonElement> JudgeAsync(HttpClient http) => (await GetJsonAsync(http, "/v1/status")).GetProperty("sampleJudge");

    static async Task<JsonElement> StatusModelAsync(HttpClient http) =>
        (await GetJsonAsync(http, "/v1/status")).GetProperty("models").EnumerateArray().Single(m => m.GetProperty("id").GetString() == TinySnapshots.ModelId);

    static async Task<JsonElement> HistoryQualityAsync(HttpClient http) =>
        (await GetJsonAsync(http, $"/v1/models/{TinySnapshots.ModelId}/history")).GetProperty("quality");

    /// <summary>The status panel's accuracy row, the accuracy chart and the grids' place all show <paramref name="text"/>.</summary>
    static async Task PageShowsAsync(string url, string text)
    {
        var (playwright, browser) = await BrowserFixture.LaunchAsync();
        try
        {
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } });
            page.SetDefaultTimeout(60_000);
            Assert.Equal((int)HttpStatusCode.OK, (await page.GotoAsync(url + "/"))!.Status);
            var quoted = JsonSerializer.Serialize(text);
            await page.WaitForFunctionAsync($$"""() => [...document.querySelectorAll('#status tr')].some(r => r.cells[0].textContent.trim() === 'accuracy' && r.cells[1].textContent.startsWith({{quoted}}))""");
            await page.WaitForFunctionAsync($$"""() => (document.querySelector('#chart-accuracy text.empty') || {}).textContent?.startsWith({{quoted}})""");
            await page.WaitForFunctionAsync($$"""() => document.getElementById('grids').textContent.startsWith({{quoted}})""");
            var shot = Path.Combine(Directory.CreateDirectory(Repo.File("artifacts", "screenshots")).FullName, "judge-training-page.png");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
        }
        finally
        {
            await browser.CloseAsync();
            playwright.Dispose();
        }
    }
}
