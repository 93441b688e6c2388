using Prometheus;

namespace CadStream.Serving;

/// <summary>The serving stage's Prometheus metrics (docs/interfaces.md, "Metrics"), one definition per name.</summary>
public static class ServingMetrics
{
    public static readonly Counter SampleRequests = Metrics.CreateCounter(
        "cad_sample_requests_total", "Sample requests answered, by model and HTTP status code.",
        new CounterConfiguration { LabelNames = ["model", "code"] });

    public static readonly Histogram SampleSeconds = Metrics.CreateHistogram(
        "cad_sample_seconds", "Time to answer a successful sample request (queueing, sampling and encoding).",
        new HistogramConfiguration { LabelNames = ["model"], Buckets = Histogram.ExponentialBuckets(0.01, 2, 14) });

    public static readonly Gauge SnapshotVersion = Metrics.CreateGauge(
        "cad_serving_snapshot_version", "Version of the snapshot this serving node answers with, by model.",
        new GaugeConfiguration { LabelNames = ["model"] });

    public static readonly Counter SnapshotRejected = Metrics.CreateCounter(
        "cad_snapshot_rejected_total", "Snapshot versions a serving node refused, by model and reason (unsigned, signature, bounds, integrity, format); each is remembered and not fetched again.",
        new CounterConfiguration { LabelNames = ["model", "reason"] });
}
