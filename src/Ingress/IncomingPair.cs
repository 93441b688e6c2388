using Confluent.Kafka;

namespace CadStream.Ingress;

/// <summary>Names fixed by the contract (CONTRACT.md, section 2).</summary>
public static class IngressTopics
{
    public const string Pairs = "cad.pairs";
    public const string DeadLetters = "cad.pairs.dlq";
    public const string ConsumerGroup = "cadstream-ingress";

    /// <summary>Header of a dead-lettered record: why it was rejected.</summary>
    public const string ErrorHeader = "cad-error";
    /// <summary>Header of a dead-lettered record: where it came from, "topic/partition/offset".</summary>
    public const string SourceHeader = "cad-source";
    public const string ContentTypeHeader = "content-type";
    public const string ProtobufContentType = "application/x-protobuf";
    public const string JsonContentType = "application/json";
}

/// <summary>Where a record was read: topic, partition and offset.</summary>
public readonly record struct PairSource(string Topic, int Partition, long Offset)
{
    public TopicPartition TopicPartition => new(Topic, new Partition(Partition));

    public static PairSource From(TopicPartitionOffset tpo) => new(tpo.Topic, tpo.Partition.Value, tpo.Offset.Value);

    /// <summary>"topic/partition/offset", the form of the cad-source header.</summary>
    public override string ToString() => $"{Topic}/{Partition}/{Offset}";
}

/// <summary>
/// A validated image-condition pair, ready for training: the image is already converted to the
/// shape of the models it goes to (Channels x Height x Width bytes, channel-first, row-major).
/// </summary>
public sealed record IncomingPair(
    string Id,
    IReadOnlyList<string> ModelIds,
    int Label,
    float? Coherence,
    double? Score,
    byte[] Pixels,
    int Channels,
    int Height,
    int Width,
    PairSource Source);

/// <summary>The outcome of decoding one record: a pair, or the short reason it was rejected.</summary>
public readonly record struct PairDecodeResult(IncomingPair? Pair, string? Rejection)
{
    public bool IsAccepted => Pair is not null;

    public static PairDecodeResult Accept(IncomingPair pair) => new(pair, null);
    public static PairDecodeResult Reject(string reason) => new(null, reason);

    public override string ToString() => Pair is not null ? $"accepted {Pair.Id}" : $"rejected: {Rejection}";
}
