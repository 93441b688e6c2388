using Prometheus;

namespace CadStream.Ingress;

/// <summary>The ingress stage's Prometheus metrics (docs/interfaces.md, "Metrics"), one definition per name.</summary>
public static class IngressMetrics
{
    public static readonly Counter RecordsTotal = Metrics.CreateCounter(
        "cad_ingest_records_total", "Records read from cad.pairs, by outcome (accepted, rejected).",
        new CounterConfiguration { LabelNames = ["outcome"] });

    public static readonly Gauge ConsumerLag = Metrics.CreateGauge(
        "cad_kafka_consumer_lag", "Records not yet read by the ingress consumer: high watermark - position.",
        new GaugeConfiguration { LabelNames = ["topic", "partition"] });

    public static readonly Counter DeadLetterFailures = Metrics.CreateCounter(
        "cad_ingest_dead_letter_failures_total",
        "Rejected records whose copy the DLQ refused on every try (Kafka:DeadLetterAttempts); their offsets are committed past, their source position logged.");

    public static Counter.Child Accepted => RecordsTotal.WithLabels("accepted");
    public static Counter.Child Rejected => RecordsTotal.WithLabels("rejected");
}
