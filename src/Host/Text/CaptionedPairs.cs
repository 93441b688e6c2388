using System.Diagnostics;
using CadStream.Data.Captions;
using CadStream.Model.Training;
using CadStream.Host.Cli;
using CadStream.Text;
using CadStream.Catalog.Text;

namespace CadStream.Host.Text;

/// <summary>
/// Offline text training data: each image of a (label-noised) pair set gets a generated caption naming its
/// noisy label, so a wrong label becomes a wrong caption and the pair keeps the coherence the noise protocol
/// gave it. The captions' token states are encoded once and kept in a cache folder keyed by the captions
/// and the encoder.
/// </summary>
public static class CaptionedPairs
{
    public static PairSet Caption(PairSet pairs, ITextEncoder encoder, int seed, string cacheDir, CancellationToken cancel = default)
    {
        var generator = new CaptionGenerator(CaptionNoise.None, seed);
        var captions = new string[pairs.Count];
        for (int i = 0; i < pairs.Count; i++)
            captions[i] = generator.Generate(pairs.Pixels.AsSpan(i * pairs.ImageBytes, pairs.ImageBytes), pairs.Width, pairs.Height, pairs.Labels[i], i).Text;
        return pairs.WithCaptions(new TokenBankCaptions(Bank(encoder, captions, cacheDir, cancel)));
    }

    /// <summary>The captions' token states from the cache, or encoded now (with a progress line) and cached.</summary>
    public static TokenBank Bank(ITextEncoder encoder, IReadOnlyList<string> captions, string cacheDir, CancellationToken cancel = default)
    {
        var key = TokenBank.KeyOf(captions);
        Directory.CreateDirectory(cacheDir);
        var path = Path.Combine(cacheDir, $"captions-{key[..Math.Min(16, key.Length)]}.bank");
        if (TokenBank.TryLoad(path, encoder.Identity, key) is { } cached)
        {
            Console.Error.WriteLine($"captions: {captions.Count} token states from {path}");
            return cached;
        }
        var line = new ProgressLine();
        var clock = Stopwatch.StartNew();
        var bank = TokenBank.Build(encoder, captions, progress: n => line.Update(
            $"captions: encoding {n}/{captions.Count} through {encoder.Identity.Split(' ')[0]} ({n / Math.Max(clock.Elapsed.TotalSeconds, 1e-3):F0}/s)"), cancel: cancel);
        bank.Save(path);
        line.Finish($"captions: {captions.Count} encoded in {clock.Elapsed.TotalSeconds:F0} s ({captions.Count / clock.Elapsed.TotalSeconds:F0}/s), kept in {path}");
        return bank;
    }
}
