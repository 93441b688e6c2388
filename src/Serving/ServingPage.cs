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

    /// <summary>
    /// The page's Content-Security-Policy: its own inline script and style by their SHA-256 (so no injected
    /// script or style runs), requests to this origin only, images from data: and blob: URLs (the samples),
    /// and no framing (clickjacking), no base or form targets elsewhere.
    /// </summary>
    public static string ContentSecurityPolicy { get; } = PolicyFor(Html);

    /// <summary>The policy allowing exactly the inline &lt;script&gt; and &lt;style&gt; blocks of <paramref name="html"/>.</summary>
    public static string PolicyFor(string html) =>
        $"default-src 'self'; script-src {Hashes(html, "script")}; style-src {Hashes(html, "style")}; " +
        "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    static string Hashes(string html, string tag)
    {
        var hashes = System.Text.RegularExpressions.Regex.Matches(html, $"<{tag}>(.*?)</{tag}>", System.Text.RegularExpressions.RegexOptions.Singleline)
            .Select(m => $"'sha256-{Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(m.Groups[1].Value)))}'")
            .ToArray();
        return hashes.Length == 0 ? "'none'" : string.Join(' ', hashes);
    }

    static string Load()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("CadStream.Serving.index.html")
            ?? throw new InvalidOperationException("the page (Page/index.html) is not embedded in CadStream.Serving");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
