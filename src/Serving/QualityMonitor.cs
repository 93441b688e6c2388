using System.Collections.Concurrent;
using CadStream.Catalog;
using CadStream.Catalog.Judging;
using CadStream.Imaging;
using CadStream.Model;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Serving.Conditions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Prometheus;
using static TorchSharp.torch;

namespace CadStream.Serving;

/// <summary>What the monitor saw of one snapshot: its accuracy at c = 1 (and c = 0 for CAD models) and the images.</summary>
/// <param name="GridPng">The first c = 1 images (<see cref="QualityMonitor.GridRows"/> at most): one column per class, one row per seed.</param>
/// <param name="Images">Images each accuracy is the share of (classes x <paramref name="PerClass"/>).</param>
public sealed record SampleQuality(string Model, long SnapshotVersion, double? Accuracy, double? AccuracyAtZero, byte[] GridPng, long At,
    int PerClass, int Steps, int Images);

/// <summary>
/// Live sample quality: every model samples a small fixed set (each class, fixed seeds, at c = 1 with its
/// default guidance, and for CAD models also at c = 0 unguided) from its newest snapshot, on the serving
/// worker, never on the training path, only when the snapshot is new and the model's previous reading ended
/// at least <see cref="ServingOptions.QualityEverySeconds"/> ago, and only once the judge is ready. The judge scores it; the figure goes to <c>cad_sample_accuracy</c>,
/// /v1/status, the history and the page, which shows the grids side by side (same seeds for every model).
/// Each kind asks for a class its own way (<paramref name="fields"/>: a text model with a prompt naming it, held-out
/// wordings for the data set, against its mode's default negative, when the node has a text encoder).
/// </summary>
public sealed class QualityMonitor(IReadOnlyDictionary<string, ModelHost> hosts, ServingOptions options, ISampleJudge? judge,
    ILogger<QualityMonitor>? logger = null, RequestFields? fields = null)
{
    public const string Part = "sample quality";
    /// <summary>Rows (seeds per class) of the grid the page shows.</summary>
    public const int GridRows = 4;

    /// <summary>docs/interfaces.md, "Metrics".</summary>
    public static readonly Gauge Accuracy = Metrics.CreateGauge("cad_sample_accuracy",
        "Share of the model's periodic fixed-seed samples that the clean classifier assigns to the requested class.", "model", "coherence");

    private readonly ConcurrentDictionary<string, SampleQuality> latest = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> lastRun = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> waitingLogged = new(StringComparer.Ordinal);
    private readonly ILogger logger = logger ?? NullLogger<QualityMonitor>.Instance;
    private readonly RequestFields fields = fields ?? new RequestFields();

    public SampleQuality? Latest(string model) => latest.GetValueOrDefault(model);

    /// <summary>Where the node's judge stands (readings wait while it is being prepared); null when the node has none.</summary>
    public JudgeState? Judge => judge?.State;

    /// <summary>Measures each model whose snapshot is new and whose last measure is old enough, until <paramref name="stop"/>.</summary>
    public async Task RunAsync(CancellationToken stop, Action? up = null)
    {
        up?.Invoke();
        if (options.QualityEverySeconds <= 0) { await Task.Delay(Timeout.Infinite, stop).ConfigureAwait(false); return; }
        try
        {
            while (true)
            {
                // A model with no class names (a text model of the user's own captions) has no fixed set to sample.
                foreach (var host in hosts.Values.Where(h => h.Spec.NumClasses > 0 && this.fields.For(h.Spec.Kind).CanMeasure))
                {
                    if (host.Current is not { } served) continue;
                    if (latest.TryGetValue(host.ModelId, out var q) && q.SnapshotVersion == served.Version) continue;
                    // Readings begin once the judge can judge: images nobody judges would only take the trainers' cores.
                    if (judge?.State is { Readiness: JudgeReadiness.Preparing } state)
                    {
                        if (waitingLogged.TryAdd(host.ModelId, true))
                            logger.LogInformation("model {Model}: live sample quality waits for the judge ({State})", host.ModelId, state.Text);
                        continue;
                    }
                    if (lastRun.TryGetValue(host.ModelId, out var at) && DateTimeOffset.UtcNow - at < TimeSpan.FromSeconds(options.QualityEverySeconds)) continue;
                    try { await MeasureAsync(host, stop).ConfigureAwait(false); }
                    catch (QueueFullException) { /* busy serving users: measure next round */ }
                    catch (NoSnapshotException) { }
                    // Counted from the reading's end: where a reading takes long (a busy CPU), readings back to back
                    // would take the cores the trainers need.
                    finally { lastRun[host.ModelId] = DateTimeOffset.UtcNow; }
                }
                await Task.Delay(TimeSpan.FromSeconds(2), stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
    }

    /// <summary>Samples the fixed set from the host's newest snapshot and judges it; null when the host has no snapshot.</summary>
    public async Task<SampleQuality?> MeasureAsync(ModelHost host, CancellationToken cancel = default)
    {
        var spec = host.CurrentSpec;
        if (spec is null || spec.NumClasses == 0) return null;
        int classes = spec.NumClasses, perClass = options.QualityPerClass;
        var sampler = new SamplerSettings(options.QualitySteps);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // The same seed per (class, row) for every model and snapshot: the page's grids compare like with like.
        var field = fields.For(spec.Kind);
        SampleRequest Request(int label, double c, double w) => field.QualityRequest(spec, label, perClass, c, w, options.QualitySeed + label);
        var atOne = Enumerable.Range(0, classes).Select(c => host.SampleAsync(Request(c, 1.0, spec.DefaultGuidance), sampler, cancel)).ToArray();
        var atZero = spec.Mode == TrainingMode.Cad
            ? Enumerable.Range(0, classes).Select(c => host.SampleAsync(Request(c, 0.0, 0.0), sampler, cancel)).ToArray()
            : [];
        var one = await Task.WhenAll(atOne).ConfigureAwait(false);
        var zero = await Task.WhenAll(atZero).ConfigureAwait(false);
        try
        {
            using var scope = NewDisposeScope();
            long version = one[0].Snapshot.Version;
            // Column-major by class: row k holds the k-th image of every class.
            using var all = stack(Enumerable.Range(0, perClass).SelectMany(k => one.Select(o => o.Images[k])).ToArray());
            var pixels = ImageTensors.ToBytes(all);
            var labels = Enumerable.Range(0, perClass).SelectMany(_ => Enumerable.Range(0, classes)).ToArray();
            double? accuracy = judge?.Accuracy(spec, pixels, labels.Length, labels);
            double? atZeroAccuracy = null;
            if (zero.Length > 0 && judge is not null)
            {
                using var z = cat(zero.Select(o => o.Images).ToArray(), 0);
                var zeroLabels = Enumerable.Range(0, classes).SelectMany(c => Enumerable.Repeat(c, perClass)).ToArray();
                atZeroAccuracy = judge.Accuracy(spec, ImageTensors.ToBytes(z), zeroLabels.Length, zeroLabels);
            }
            // The page shows the first rows only: every class at a few seeds is what a person compares; the figure uses them all.
            int rows = Math.Min(perClass, GridRows);
            var png = ImageGrid.EncodePng(pixels[..(rows * classes * spec.ImageBytes)], rows * classes, spec.Channels, spec.ImageSize, spec.ImageSize,
                columns: classes, scale: 2);
            var quality = new SampleQuality(host.ModelId, version, accuracy, atZeroAccuracy, png, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), perClass,
                sampler.Steps, labels.Length);
            latest[host.ModelId] = quality;
            if (accuracy is double a) Accuracy.WithLabels(host.ModelId, "1").Set(a);
            if (atZeroAccuracy is double a0) Accuracy.WithLabels(host.ModelId, "0").Set(a0);
            logger.LogInformation("model {Model}: snapshot v{Version} sample accuracy {Accuracy} at c = 1{AtZero} ({Images} images each, {Seconds:F1} s)",
                host.ModelId, version, accuracy?.ToString("F2") ?? "n/a", atZeroAccuracy is double z0 ? $", {z0:F2} at c = 0" : "", labels.Length,
                clock.Elapsed.TotalSeconds);
            return quality;
        }
        finally
        {
            foreach (var o in one.Concat(zero)) o.Dispose();
        }
    }
}
