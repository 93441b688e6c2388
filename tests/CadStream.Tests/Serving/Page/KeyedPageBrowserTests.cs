using CadStream.Serving;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace CadStream.Tests.Serving.Page;

/// <summary>The serving app with an API key configured (tiny snapshot v1 loaded), and headless Chromium.</summary>
public sealed class KeyedBrowserFixture : IAsyncLifetime
{
    public const string Key = "page-key-5be1";
    IPlaywright? playwright;

    public ServingTestApp App { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        App = await ServingTestApp.StartAsync(access: new ApiKeyGate([Key]));
        (playwright, Browser) = await BrowserFixture.LaunchAsync();
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.CloseAsync();
        playwright?.Dispose();
        if (App is not null) await App.DisposeAsync();
    }
}

/// <summary>
/// The page on a server that needs an API key: it asks for the key before any API request, says so
/// clearly when a key is refused and then stops asking the API (no failed request every poll), and
/// works once the right key is entered, sending it as a Bearer header; the key is kept for the tab.
/// The page's timers run on Playwright's clock, so minutes of polling pass without waiting for them.
/// </summary>
public sealed class KeyedPageBrowserTests(KeyedBrowserFixture fixture, ITestOutputHelper output) : IClassFixture<KeyedBrowserFixture>
{
    const float WaitMs = 60_000;
    const string SamplesPath = "/v1/models/" + TinySnapshots.ModelId + "/samples";

    [Fact]
    public async Task The_page_asks_for_the_key_stays_quiet_without_it_and_works_with_it()
    {
        await using var context = await fixture.Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 760 } });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(WaitMs);
        var pageErrors = new List<string>();
        var consoleErrors = new List<string>();
        var apiRequests = new List<IRequest>();
        page.PageError += (_, e) => { lock (pageErrors) pageErrors.Add(e); };
        page.Console += (_, m) => { if (m.Type == "error") lock (consoleErrors) consoleErrors.Add($"{m.Text} ({m.Location})"); };
        page.Request += (_, r) => { if (new Uri(r.Url).AbsolutePath.StartsWith("/v1/", StringComparison.Ordinal)) lock (apiRequests) apiRequests.Add(r); };
        int ApiRequests() { lock (apiRequests) return apiRequests.Count; }
        await page.Clock.InstallAsync();

        var response = await page.GotoAsync(fixture.App.Url + "/");
        Assert.Equal(200, response!.Status);

        // No key yet: the prompt shows, and a minute of the page's polling asks the API nothing.
        await Assertions.Expect(page.Locator("#access")).ToBeVisibleAsync(new() { Timeout = WaitMs });
        await Assertions.Expect(page.Locator("#access-message")).ToContainTextAsync("needs an API key", new() { Timeout = WaitMs });
        await page.Clock.RunForAsync(60_000);
        Assert.Equal(0, ApiRequests());
        // Sampling without a key says what to do instead of failing silently.
        await page.ClickAsync("#sample");
        await Assertions.Expect(page.Locator("#error")).ToContainTextAsync("API key", new() { Timeout = WaitMs });
        Assert.Equal(0, ApiRequests());

        // A wrong key: the server refuses it once, the page says so and goes quiet again.
        await page.FillAsync("#api-key", KeyedBrowserFixture.Key + "-wrong");
        await page.ClickAsync("#api-key-use");
        await Assertions.Expect(page.Locator("#access-message")).ToContainTextAsync("refused", new() { Timeout = WaitMs });
        int afterRefusal = ApiRequests();
        Assert.InRange(afterRefusal, 1, 3);
        await page.Clock.RunForAsync(60_000);
        Assert.Equal(afterRefusal, ApiRequests());
        var shot = Path.Combine(Directory.CreateDirectory(Repo.File("artifacts", "screenshots")).FullName, "serving-page-key-refused.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot });
        output.WriteLine("screenshot: " + shot);

        // The right key: the models load, every API request carries it, and sampling shows images.
        await page.FillAsync("#api-key", KeyedBrowserFixture.Key);
        await page.ClickAsync("#api-key-use");
        await page.WaitForSelectorAsync($"#model option[value=\"{TinySnapshots.ModelId}\"]", new() { State = WaitForSelectorState.Attached });
        await Assertions.Expect(page.Locator("#access-message")).ToHaveTextAsync("key in use", new() { Timeout = WaitMs });
        await page.FillAsync("#steps", "4");
        await page.FillAsync("#count", "2");
        var request = await page.RunAndWaitForRequestAsync(() => page.ClickAsync("#sample"),
            r => r.Method == "POST" && new Uri(r.Url).AbsolutePath == SamplesPath);
        Assert.Equal("Bearer " + KeyedBrowserFixture.Key, await request.HeaderValueAsync("authorization"));
        Assert.Equal(200, (await request.ResponseAsync())!.Status);
        await page.WaitForFunctionAsync("n => { const all = [...document.querySelectorAll('#images img')]; return all.length === n && all.every(i => i.complete); }", 2);
        await page.Clock.RunForAsync(3_000);
        await page.Locator("#status table").WaitForAsync();

        // The key is kept for the tab: a reload works without asking again.
        await page.ReloadAsync();
        await page.WaitForSelectorAsync($"#model option[value=\"{TinySnapshots.ModelId}\"]", new() { State = WaitForSelectorState.Attached });
        await Assertions.Expect(page.Locator("#access-message")).ToHaveTextAsync("key in use", new() { Timeout = WaitMs });

        // The headers the page itself set (Authorization among them) are in each request as it was sent.
        string[] keyless;
        lock (apiRequests)
            keyless = apiRequests.Where(r => !(r.Headers.GetValueOrDefault("authorization") ?? "").StartsWith("Bearer ", StringComparison.Ordinal))
                .Select(r => r.Method + " " + r.Url).ToArray();
        Assert.True(keyless.Length == 0, "API requests without a key: " + string.Join(", ", keyless));
        output.WriteLine($"{ApiRequests()} API requests; console errors: {string.Join(" | ", consoleErrors)}");
        Assert.Empty(pageErrors);
        // The one refused key is the only failure the browser logs: no error on every poll.
        Assert.InRange(consoleErrors.Count, 0, 3);
        Assert.All(consoleErrors, e => Assert.Contains("401", e));
    }
}
