using System.Reflection;

namespace CadStream.Serving;

/// <summary>
/// GET /: one self-contained page (plain JS and SVG charts, no build step, nothing from the network),
/// kept in Page/index.html and embedded in the assembly. Stable element ids for browser tests: model,
/// version, class, coherence, guidance, steps, seed, count, sample, images, status, error; the charts
/// chart-loss, chart-rate, chart-accuracy, chart-coherence; grids (grid-{model}); the compare view
/// compare-class, compare-seed, compare-guidance, compare-steps, compare-rows.
/// </summary>
public static class ServingPage
{
    public static string Html { get; } = Load();

    static string Load()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("CadStream.Serving.index.html")
            ?? throw new InvalidOperationException("the page (Page/index.html) is not embedded in CadStream.Serving");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
