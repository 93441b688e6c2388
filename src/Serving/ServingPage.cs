using System.Reflection;

namespace CadStream.Serving;

/// <summary>
/// GET /: one self-contained page (plain JS and SVG charts, no build step, nothing from the network),
/// kept in Page/index.html and embedded in the assembly. Stable element ids for browser tests: model,
/// version, class, coherence, guidance, steps, sampler, seed, count, sample, images, status, error; the charts
/// chart-loss, chart-rate, chart-accuracy, chart-coherence; grids (grid-{model}); the compare view
/// compare-class, compare-seed, compare-guidance, compare-steps, compare-rows; the API key prompt
/// access, api-key, api-key-use, api-key-remember, access-message.
/// </summary>
public static class ServingPage
{
    // The page reads this meta tag to know, before any request, whether it must ask for a key.
    const string KeyOptional = "<meta name=\"cadstream-api-key\" content=\"optional\">";
    const string KeyRequired = "<meta name=\"cadstream-api-key\" content=\"required\">";

    /// <summary>The page of a server without API keys.</summary>
    public static string Html { get; } = Load();

    /// <summary>The page of a server with API keys: it asks for a key before its first /v1 request.</summary>
    public static string HtmlWithKeys { get; } = Html.Replace(KeyOptional, KeyRequired, StringComparison.Ordinal);

    public static string For(bool keysRequired) => keysRequired ? HtmlWithKeys : Html;

    static string Load()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("CadStream.Serving.index.html")
            ?? throw new InvalidOperationException("the page (Page/index.html) is not embedded in CadStream.Serving");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
