using System.Diagnostics;
using CadStream.Model.Data;

namespace CadStream.Ingress.Producing;

/// <summary>
/// Label-noised Fashion-MNIST pairs for cad.pairs: a seeded selection of training images,
/// labels noised by one of the CAD protocols (the same <see cref="LabelNoise"/> code the offline
/// trainer uses) and each image as a 28x28 grey PNG. Deterministic for (seed, size, noise).
/// </summary>
public sealed class FashionPairStream
{
    private readonly FashionMnist data;
    private readonly int[] indices;
    private readonly NoisyLabels noisy;
    private readonly int seed;
    private readonly string? model;

    /// <summary>Distinct images the stream cycles through.</summary>
    public int Size => indices.Length;
    public double WrongFraction => noisy.WrongFraction;
    public double MeanCoherence => noisy.Coherence.Length == 0 ? 0 : noisy.Coherence.Average();

    private FashionPairStream(FashionMnist data, int[] indices, NoisyLabels noisy, int seed, string? model)
    {
        this.data = data;
        this.indices = indices;
        this.noisy = noisy;
        this.seed = seed;
        this.model = model;
    }

    /// <param name="size">Distinct images to use (at most the data set); 0 = all.</param>
    /// <param name="classifierPath">Classifier file, needed by <see cref="LabelNoiseKind.Temperature"/>.</param>
    /// <param name="model">Model id written into each pair; null = every class model.</param>
    public static FashionPairStream Create(FashionMnist data, LabelNoiseKind noise, double beta, string? classifierPath, int seed, int size = 0, string? model = null)
    {
        int n = size <= 0 ? data.Count : Math.Min(size, data.Count);
        var order = Enumerable.Range(0, data.Count).ToArray();
        new Random(seed).Shuffle(order);
        var chosen = order[..n];
        var pixels = new byte[n * 784];
        for (int k = 0; k < n; k++) data.Pixels.AsSpan(chosen[k] * 784, 784).CopyTo(pixels.AsSpan(k * 784));
        var noisy = LabelNoise.Apply(noise, new FashionMnist(pixels, chosen.Select(i => data.Labels[i]).ToArray()), beta, classifierPath, seed);
        return new FashionPairStream(data, chosen, noisy, seed, model);
    }

    /// <summary>The pairs: the selection in order, then again in a fresh seeded order per pass. <paramref name="count"/> 0 = endless.</summary>
    public IEnumerable<OutgoingPair> Pairs(long count)
    {
        var order = Enumerable.Range(0, indices.Length).ToArray();
        long produced = 0;
        for (int pass = 0; indices.Length > 0; pass++)
        {
            if (pass > 0) new Random(unchecked(seed * 1_000_003 + pass)).Shuffle(order); // HashCode is randomised per process
            foreach (var k in order)
            {
                if (count > 0 && produced >= count) yield break;
                int index = indices[k];
                yield return new OutgoingPair
                {
                    Id = pass == 0 ? $"fashion-mnist/train/{index}" : $"fashion-mnist/train/{index}/pass{pass}",
                    Model = model,
                    ImagePng = PairEncoding.EncodePng(data.Pixels.AsSpan(index * 784, 784), 28, 28),
                    Label = noisy.Labels[k],
                    Coherence = Math.Round(noisy.Coherence[k], 6),
                };
                produced++;
            }
        }
    }
}

public sealed record ProduceProgress(long Sent, long Delivered, long Failed, long Target, TimeSpan Elapsed)
{
    public double PairsPerSecond => Elapsed.TotalSeconds > 0 ? Sent / Elapsed.TotalSeconds : 0;
}

public sealed record ProduceSummary(long Sent, long Delivered, long Failed, TimeSpan Elapsed, bool Interrupted, string? LastError);

/// <summary>Sends pairs at a steady rate and waits for every delivery report: shared by `cadstream produce` and the demo.</summary>
public static class PairStreaming
{
    /// <param name="count">Pairs to send; 0 = until <paramref name="cancel"/>.</param>
    /// <param name="rate">Pairs per second; 0 = as fast as the producer takes them.</param>
    /// <param name="hold">While it answers true the stream waits, and the rate resumes from there without a burst
    /// (the demo holds while the consumers are far behind: the embedded broker keeps only a few MiB per partition).</param>
    public static ProduceSummary Run(PairProducer producer, IEnumerable<OutgoingPair> pairs, long count, double rate,
        Action<ProduceProgress>? progress = null, TimeSpan? progressInterval = null, TimeSpan? flushTimeout = null, CancellationToken cancel = default,
        Func<bool>? hold = null)
    {
        if (rate < 0 || !double.IsFinite(rate)) throw new ArgumentOutOfRangeException(nameof(rate), "rate must be >= 0");
        var clock = Stopwatch.StartNew();
        var every = progressInterval ?? TimeSpan.FromSeconds(1);
        var nextReport = every;
        long i = 0;
        var held = TimeSpan.Zero;
        bool interrupted = false;
        ProduceProgress Snapshot() => new(producer.Sent, producer.Delivered, producer.Failed, count, clock.Elapsed);
        try
        {
            foreach (var pair in pairs)
            {
                if (count > 0 && i >= count) break;
                if (hold is not null && hold())
                {
                    var since = clock.Elapsed;
                    while (hold() && !cancel.IsCancellationRequested) cancel.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(200));
                    held += clock.Elapsed - since;
                }
                if (rate > 0)
                {
                    var due = TimeSpan.FromSeconds(i / rate) + held;
                    var wait = due - clock.Elapsed;
                    if (wait > TimeSpan.Zero) cancel.WaitHandle.WaitOne(wait);
                }
                if (cancel.IsCancellationRequested) { interrupted = true; break; }
                producer.Produce(pair, cancel);
                i++;
                if (clock.Elapsed >= nextReport)
                {
                    progress?.Invoke(Snapshot());
                    nextReport = clock.Elapsed + every;
                }
            }
        }
        catch (OperationCanceledException) { interrupted = true; }

        // Every queued pair gets a delivery report (or times out) before the summary.
        var flushUntil = clock.Elapsed + (flushTimeout ?? TimeSpan.FromSeconds(60));
        while (producer.Flush(TimeSpan.FromMilliseconds(500)) > 0 && clock.Elapsed < flushUntil)
            progress?.Invoke(Snapshot());
        progress?.Invoke(Snapshot());
        return new ProduceSummary(producer.Sent, producer.Delivered, producer.Failed, clock.Elapsed, interrupted, producer.LastError);
    }
}
