using Microsoft.Playwright;

namespace CadStream.Tests.Serving.Page;

/// <summary>
/// The real serving app (Kestrel on a free loopback port, tiny CAD snapshot v1 loaded) and Debian's
/// Chromium driven headless by Playwright. Playwright's node driver comes with the NuGet package (the
/// build copies it next to the test assembly); no browser is downloaded: Chromium is /usr/bin/chromium
/// (scripts/setup.sh test installs the Debian packages chromium and chromium-driver).
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    IPlaywright? playwright;

    public ServingTestApp App { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        App = await ServingTestApp.StartAsync();
        (playwright, Browser) = await LaunchAsync();
    }

    /// <summary>Where a page's screenshot goes: artifacts/screenshots/ (the folder is made here: a fresh clone has none, and File.Delete throws on a missing folder).</summary>
    public static string ScreenshotPath(string name) =>
        Path.Combine(Directory.CreateDirectory(Repo.File("artifacts", "screenshots")).FullName, name);

    /// <summary>Playwright with Debian's Chromium, headless.</summary>
    public static async Task<(IPlaywright, IBrowser)> LaunchAsync()
    {
        if (!File.Exists(ChromiumPath))
            throw new InvalidOperationException(
                $"Chromium is not installed at {ChromiumPath}; the browser tests need Debian's chromium: run scripts/setup.sh test " +
                "(apt-get install chromium chromium-driver).");
        var playwright = await Playwright.CreateAsync();
        var args = new List<string>();
        // Chromium refuses to start its sandbox as root (CI containers run as root).
        if (Environment.IsPrivilegedProcess) args.Add("--no-sandbox");
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ChromiumPath,
                Headless = true,
                Args = args,
                Timeout = 60_000,
            });
            return (playwright, browser);
        }
        catch (PlaywrightException e)
        {
            playwright.Dispose();
            throw new InvalidOperationException($"Playwright could not start {ChromiumPath} headless: {e.Message}", e);
        }
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.CloseAsync();
        playwright?.Dispose();
        if (App is not null) await App.DisposeAsync();
    }
}
