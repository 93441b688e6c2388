using Microsoft.Playwright;
using Xunit.Abstractions;

namespace CadStream.Tests.Serving.Page;

/// <summary>
/// The web page (GET /) in a real headless Chromium against the real serving app: what a person does
/// (pick a class, move the sliders with the keyboard, press Sample) and what they should see.
/// </summary>
public sealed class ServingPageBrowserTests(BrowserFixture fixture, ITestOutputHelper output) : IClassFixture<BrowserFixture>
{
    const float WaitMs = 60_000;  // generous: the suite runs other CPU-heavy tests beside this one on 2 cores
    const string SamplesPath = "/v1/models/" + TinySnapshots.ModelId + "/samples";

    /// <summary>A page with its JavaScript errors and console errors collected from the first moment.</summary>
    sealed class WatchedPage
    {
        public required IPage Page { get; init; }
        public List<string> PageErrors { get; } = [];
        public List<string> ConsoleErrors { get; } = [];

        public string Problems => string.Join("\n", PageErrors.Select(e => "page error: " + e).Concat(ConsoleErrors.Select(e => "console error: " + e)));
    }

    async Task<WatchedPage> NewPageAsync()
    {
        var page = await fixture.Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 760 } });
        page.SetDefaultTimeout(WaitMs);
        var watched = new WatchedPage { Page = page };
        page.PageError += (_, e) => { lock (watched) watched.PageErrors.Add(e); };
        page.Console += (_, m) =>
        {
            if (m.Type == "error") lock (watched) watched.ConsoleErrors.Add($"{m.Text} ({m.Location})");
        };
        return watched;
    }

    /// <summary>Loads GET / and waits for the model picker.</summary>
    async Task LoadAsync(WatchedPage p)
    {
        var response = await p.Page.GotoAsync(fixture.App.Url + "/");
        Assert.NotNull(response);
        Assert.Equal(200, response.Status);
        await WaitForModelAsync(p);
    }

    async Task<WatchedPage> OpenAsync()
    {
        var p = await NewPageAsync();
        await LoadAsync(p);
        return p;
    }

    async Task<string> SaveScreenshotAsync(IPage page, string name)
    {
        var path = BrowserFixture.ScreenshotPath(name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        output.WriteLine("screenshot: " + path);
        Console.WriteLine("screenshot: " + path);  // shown in the run's log even when the test passes
        return path;
    }

    /// <summary>Waits until the model picker lists the model from /v1/models (and the class picker its classes).</summary>
    static async Task WaitForModelAsync(WatchedPage p)
    {
        try
        {
            await p.Page.WaitForSelectorAsync($"#model option[value=\"{TinySnapshots.ModelId}\"]", new() { State = WaitForSelectorState.Attached });
            await p.Page.WaitForSelectorAsync("#class option", new() { State = WaitForSelectorState.Attached });
        }
        catch (TimeoutException e)
        {
            throw new Xunit.Sdk.XunitException($"the model picker never listed '{TinySnapshots.ModelId}' from /v1/models: {e.Message}\n" +
                $"#error: '{await TextAsync(p.Page, "#error")}'\n{p.Problems}");
        }
    }

    static async Task<string> TextAsync(IPage page, string selector) => (await page.Locator(selector).TextContentAsync())?.Trim() ?? "";

    /// <summary>Focuses a range input and presses an arrow key <paramref name="times"/> times, as a keyboard user does.</summary>
    static async Task PressOnSliderAsync(IPage page, string selector, string key, int times)
    {
        await page.Locator(selector).FocusAsync();
        for (int i = 0; i < times; i++) await page.Keyboard.PressAsync(key);
    }

    [Fact]
    public async Task Picking_a_class_moving_the_sliders_and_sampling_shows_decoded_images()
    {
        // No stale picture from an earlier run may pass for this run's.
        File.Delete(BrowserFixture.ScreenshotPath("serving-page.png"));
        File.Delete(BrowserFixture.ScreenshotPath("serving-page-failed.png"));
        var p = await NewPageAsync();
        try { await SampleThroughThePageAsync(p); }
        catch
        {
            // What the page looked like when it went wrong (kept by CI with the passing run's picture).
            try { await SaveScreenshotAsync(p.Page, "serving-page-failed.png"); }
            catch (PlaywrightException e) { output.WriteLine("no failure screenshot: " + e.Message); }
            throw;
        }
        finally { await p.Page.CloseAsync(); }
    }

    async Task SampleThroughThePageAsync(WatchedPage p)
    {
        await LoadAsync(p);
        var page = p.Page;

        Assert.Equal(TinySnapshots.ModelId, await page.Locator("#model").InputValueAsync());
        Assert.Equal(10, await page.Locator("#class option").CountAsync());
        Assert.Equal("0", await page.Locator("#class").InputValueAsync());

        // A class other than the default (0: T-shirt/top).
        var chosen = await page.SelectOptionAsync("#class", new SelectOptionValue { Label = "3: Dress" });
        Assert.Equal(["3"], chosen);

        // Coherence: 1 -> 0.8 with four presses of the left arrow (step 0.05); the shown value follows.
        Assert.Equal("1.00", await TextAsync(page, "#coherence-value"));
        await PressOnSliderAsync(page, "#coherence", "ArrowLeft", 4);
        Assert.Equal("0.8", await page.Locator("#coherence").InputValueAsync());
        Assert.Equal("0.80", await TextAsync(page, "#coherence-value"));

        // Guidance: the model's default (1.0) -> 1.5 with five presses of the right arrow (step 0.1).
        Assert.Equal("1.0", await TextAsync(page, "#guidance-value"));
        await PressOnSliderAsync(page, "#guidance", "ArrowRight", 5);
        Assert.Equal("1.5", await TextAsync(page, "#guidance-value"));

        // Few steps and images keep the test quick; a fixed seed shows up in the answer.
        await page.FillAsync("#steps", "8");
        await page.FillAsync("#seed", "42");
        await page.FillAsync("#count", "4");

        var request = await page.RunAndWaitForRequestAsync(() => page.ClickAsync("#sample"),
            r => r.Method == "POST" && new Uri(r.Url).AbsolutePath == SamplesPath);
        var body = request.PostDataJSON() ?? throw new Xunit.Sdk.XunitException("the sample request had no JSON body");
        output.WriteLine("request body: " + body.GetRawText());
        Assert.Equal(3, body.GetProperty("label").GetInt32());
        Assert.Equal(0.8, body.GetProperty("coherence").GetDouble(), 9);
        Assert.Equal(1.5, body.GetProperty("guidance").GetDouble(), 9);
        Assert.Equal(8, body.GetProperty("steps").GetInt32());
        Assert.Equal(42, body.GetProperty("seed").GetInt32());
        Assert.Equal(4, body.GetProperty("count").GetInt32());
        Assert.Equal("json", body.GetProperty("format").GetString());

        var response = await request.ResponseAsync();
        Assert.NotNull(response);
        Assert.True(response.Status == 200, $"samples answered {response.Status}: {await response.TextAsync()}");

        // Four <img> in #images, every one loaded and decoded by the browser.
        try
        {
            await page.WaitForFunctionAsync(
                "n => { const all = [...document.querySelectorAll('#images img')]; return all.length === n && all.every(i => i.complete); }", 4);
        }
        catch (TimeoutException e)
        {
            throw new Xunit.Sdk.XunitException($"the images never appeared in #images: {e.Message}\n#meta: '{await TextAsync(page, "#meta")}'\n" +
                $"#error: '{await TextAsync(page, "#error")}'\n{p.Problems}");
        }
        var sizes = await page.EvalOnSelectorAllAsync<int[][]>("#images img", "all => all.map(i => [i.naturalWidth, i.naturalHeight])");
        Assert.Equal(4, sizes.Length);
        Assert.All(sizes, s => Assert.True(s[0] > 0 && s[1] > 0, $"an image did not decode (natural size {s[0]}x{s[1]})"));
        output.WriteLine($"images: {string.Join(", ", sizes.Select(s => $"{s[0]}x{s[1]}"))}");

        var meta = await TextAsync(page, "#meta");
        Assert.Contains("4 image(s) from snapshot v1", meta);
        Assert.Contains("seed 42", meta);
        Assert.Equal("", await TextAsync(page, "#error"));
        Assert.True(await page.Locator("#sample").IsEnabledAsync(), "the Sample button stayed disabled");

        // The live status panel has filled in (so the screenshot shows the whole page).
        await page.Locator("#status table").WaitForAsync();

        var path = await SaveScreenshotAsync(page, "serving-page.png");
        Assert.True(new FileInfo(path).Length > 0);

        Assert.True(p.PageErrors.Count == 0 && p.ConsoleErrors.Count == 0, "JavaScript errors on the page:\n" + p.Problems);
    }

    [Fact]
    public async Task Errors_from_the_server_are_shown_on_the_page()
    {
        var p = await OpenAsync();
        try { await ShowErrorsAsync(p); }
        finally { await p.Page.CloseAsync(); }
    }

    async Task ShowErrorsAsync(WatchedPage p)
    {
        var page = p.Page;

        // A real 400 from the server: steps outside 1..1000, typed into the steps box.
        await page.FillAsync("#steps", "0");
        await page.ClickAsync("#sample");
        await Assertions.Expect(page.Locator("#error")).ToHaveTextAsync("400: steps must be in 1..1000 (got 0)", new() { Timeout = WaitMs });
        await Assertions.Expect(page.Locator("#sample")).ToBeEnabledAsync(new() { Timeout = WaitMs });
        Assert.Equal(0, await page.Locator("#images img").CountAsync());

        // An answer that is not JSON (a proxy's error page) still shows its status, not a parser error.
        await page.RouteAsync("**" + SamplesPath, route => route.FulfillAsync(new RouteFulfillOptions
        {
            Status = 502, ContentType = "text/html", Body = "<html><body>Bad Gateway</body></html>",
        }));
        await page.FillAsync("#steps", "8");
        await page.ClickAsync("#sample");
        await Assertions.Expect(page.Locator("#error")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^502"), new() { Timeout = WaitMs });
        output.WriteLine("#error after a 502: " + await TextAsync(page, "#error"));
        Assert.DoesNotContain("SyntaxError", await TextAsync(page, "#error"));

        // The browser logs each failed resource load as a console error; nothing else may be there.
        Assert.Empty(p.PageErrors);
        Assert.All(p.ConsoleErrors, e => Assert.Contains("Failed to load resource", e));
    }
}
