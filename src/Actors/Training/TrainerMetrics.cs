using Prometheus;

namespace CadStream.Actors.Training;

/// <summary>The trainer's Prometheus metrics (docs/interfaces.md, "Metrics"), one definition per name.</summary>
public static class TrainerMetrics
{
    public static readonly Counter Steps = Metrics.CreateCounter("cad_train_steps_total", "Training steps applied.", "model");
    public static readonly Counter Samples = Metrics.CreateCounter("cad_train_samples_total", "Pairs trained on (fresh pairs, each counted once).", "model");
    public static readonly Counter SkippedSteps = Metrics.CreateCounter("cad_train_skipped_steps_total",
        "Training steps skipped because the loss or gradient was not finite.", "model");
    public static readonly Gauge Loss = Metrics.CreateGauge("cad_train_loss", "Training loss, exponentially smoothed.", "model");
    public static readonly Histogram StepSeconds = Metrics.CreateHistogram("cad_train_step_seconds", "Wall time of one training step.",
        new HistogramConfiguration { LabelNames = ["model"], Buckets = Histogram.ExponentialBuckets(0.005, 2, 14) });
    public static readonly Gauge SnapshotVersion = Metrics.CreateGauge("cad_snapshot_version",
        "Version of the newest snapshot the trainer stored.", "model");
    public static readonly Histogram PublishSeconds = Metrics.CreateHistogram("cad_snapshot_publish_seconds", "Time to serialise and store a snapshot.",
        new HistogramConfiguration { LabelNames = ["model"], Buckets = Histogram.ExponentialBuckets(0.01, 2, 12) });
    public static readonly Counter PublishFailures = Metrics.CreateCounter("cad_snapshot_publish_failures_total",
        "Snapshot publishes that failed (the trainer retries).", "model");
    public static readonly Histogram Coherence = Metrics.CreateHistogram("cad_coherence", "Coherence of scored pairs.",
        new HistogramConfiguration { LabelNames = ["model"], Buckets = Histogram.LinearBuckets(0.1, 0.1, 10) });
}
