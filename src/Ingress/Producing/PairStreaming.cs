using System.Diagnostics;
using CadStream.Records;

namespace CadStream.Ingress.Producing;

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
    public static ProduceSummary Run(PairProducer producer, IEnumerable<PairRecord> pairs, long count, double rate,
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
