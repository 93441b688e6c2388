using Confluent.Kafka;

namespace CadStream.Ingress;

/// <summary>Names of the Kafka side (docs/interfaces.md, "Kafka").</summary>
public static class IngressTopics
{
    public const string Pairs = "cad.pairs";
    public const string DeadLetters = "cad.pairs.dlq";
    public const string ConsumerGroup = "cadstream-ingress";

    /// <summary>Header of a dead-lettered record: why it was rejected.</summary>
    public const string ErrorHeader = "cad-error";
    /// <summary>Header of a dead-lettered record: where it came from, "topic/partition/offset".</summary>
    public const string SourceHeader = "cad-source";
    /// <summary>Header of a dead-lettered record whose value was cut to fit the DLQ: the value's original length in bytes.</summary>
    public const string TruncatedHeader = "cad-truncated";
}

/// <summary>
/// Where a record was read: topic, partition, offset. The one name for a record's position, from the
/// consumer through the ingest actor's batches back to the commit ledger; no Kafka types, so it can
/// travel in cluster messages.
/// </summary>
public readonly record struct RecordPosition(string Topic, int Partition, long Offset)
{
    /// <summary>"topic/partition/offset", the form of the cad-source header.</summary>
    public override string ToString() => $"{Topic}/{Partition}/{Offset}";

    public bool IsIn(string topic, int partition) => Topic == topic && Partition == partition;
}

public static class RecordPositions
{
    public static RecordPosition ToPosition(this TopicPartitionOffset tpo) => new(tpo.Topic, tpo.Partition.Value, tpo.Offset.Value);
    public static TopicPartition ToTopicPartition(this RecordPosition p) => new(p.Topic, new Partition(p.Partition));
}

/// <summary>
/// A validated image-condition pair, ready for scoring and training: the image is already converted
/// to the shape of the models it goes to (Channels x Height x Width bytes, channel-first, row-major).
/// The conditions are those of the models' kinds: <see cref="Label"/> (a class index, valid for every
/// class model it goes to) when it goes to class models, <see cref="Caption"/> when it goes to text
/// models; a pair going to both kinds carries both.
/// </summary>
public sealed record IncomingPair(
    string Id,
    IReadOnlyList<string> ModelIds,
    int? Label,
    float? Coherence,
    double? Score,
    byte[] Pixels,
    int Channels,
    int Height,
    int Width,
    RecordPosition Position,
    string? Caption = null);

/// <summary>The outcome of decoding one record: a pair, or the short reason it was rejected.</summary>
public readonly record struct PairDecodeResult(IncomingPair? Pair, string? Rejection)
{
    public bool IsAccepted => Pair is not null;

    public static PairDecodeResult Accept(IncomingPair pair) => new(pair, null);
    public static PairDecodeResult Reject(string reason) => new(null, reason);

    public override string ToString() => Pair is not null ? $"accepted {Pair.Id}" : $"rejected: {Rejection}";
}
