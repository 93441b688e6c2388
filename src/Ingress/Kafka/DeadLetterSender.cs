using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace CadStream.Ingress.Kafka;

/// <summary>
/// The <see cref="PairConsumer"/>'s dead-lettering: copies a rejected record to the DLQ with cad-error and
/// cad-source headers, its value cut (with a cad-truncated header) when the copy would not fit the
/// producer's <c>message.max.bytes</c>; retries a copy the broker refused, with a doubling wait, while its
/// partition is still assigned, and gives it up after <see cref="PairConsumerOptions.DeadLetterAttempts"/>
/// tries (counted and reported, so a failing DLQ shows instead of holding the commit point forever); tells
/// the <see cref="CommitLedger"/> once the broker acknowledged a copy or it was given up.
/// Used on the consumer's thread only, except the delivery reports, which arrive on the producer's
/// thread and go through <paramref name="delivered"/> (the consumer's control queue).
/// </summary>
internal sealed class DeadLetterSender : IDisposable
{
    /// <summary>The broker's report on one DLQ copy, applied on the consumer's thread (<see cref="Apply"/>).</summary>
    public sealed record Delivered(CommitLedger.Entry Entry, Message<byte[]?, byte[]?> Message, int Attempt, Error Error);

    /// <summary>librdkafka's default <c>message.max.bytes</c>: the most one produced record may take.</summary>
    public const int DefaultMaxMessageBytes = 1_000_000;
    /// <summary>Room left in a copy for librdkafka's per-record and per-batch framing.</summary>
    const int FramingBytes = 1024;
    /// <summary>A reason longer than this is cut: a header, not a copy of the record.</summary>
    public const int MaxReasonChars = 300;
    /// <summary>A key longer than this is cut in the copy (the cad-source header points to the original).</summary>
    public const int MaxKeyBytes = 1024;
    static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    private readonly string topic;
    private readonly CommitLedger ledger;
    private readonly Action<Delivered> delivered;
    private readonly ILogger logger;
    private readonly IProducer<byte[]?, byte[]?> producer;
    private readonly int attempts;
    private readonly TimeSpan retryDelay;
    private readonly List<(CommitLedger.Entry Entry, Message<byte[]?, byte[]?> Message, int Attempt, long DueTicks)> retries = [];
    private long deadLettered, givenUp;
    private string? trouble;

    /// <summary>The most bytes (key, value and headers) a DLQ copy may take.</summary>
    public int MaxMessageBytes { get; }

    /// <summary>Raised on the consumer's thread when copies are given up (what is wrong) and when one lands again (null).</summary>
    public event Action<string?>? TroubleChanged;

    /// <exception cref="InvalidDataException">The producer's settings are refused (explained).</exception>
    public DeadLetterSender(PairConsumerOptions options, CommitLedger ledger, Action<Delivered> delivered, ILogger logger)
    {
        topic = options.DeadLetterTopic;
        this.ledger = ledger;
        this.delivered = delivered;
        this.logger = logger;
        if (options.DeadLetterAttempts < 1) throw new ArgumentException("DeadLetterAttempts must be at least 1");
        attempts = options.DeadLetterAttempts;
        retryDelay = options.DeadLetterRetryDelay > TimeSpan.Zero ? options.DeadLetterRetryDelay : TimeSpan.FromSeconds(1);
        var config = PairConsumer.DeadLetterConfigFor(options);
        MaxMessageBytes = config.MessageMaxBytes ?? DefaultMaxMessageBytes;
        try
        {
            producer = new ProducerBuilder<byte[]?, byte[]?>(config)
                .SetErrorHandler((_, e) => logger.LogWarning("kafka dlq producer: {Reason}", e.Reason))
                .SetLogHandler((_, m) => { if (m.Level <= SyslogLevel.Warning) logger.LogWarning("kafka dlq producer: {Message}", m.Message); })
                .Build();
        }
        catch (Exception e) when (e is KafkaException or ArgumentException)
        {
            throw KafkaClientSettings.Explain(e, options.ProducerConfig);
        }
    }

    /// <summary>Rejected records whose DLQ copy the broker acknowledged.</summary>
    public long DeadLettered => Interlocked.Read(ref deadLettered);

    /// <summary>Rejected records given up after every try (their offsets are committed past).</summary>
    public long GivenUp => Interlocked.Read(ref givenUp);

    /// <summary>
    /// The DLQ copy of a rejected record: its key, value and headers, plus why and where it came from,
    /// within <paramref name="maxMessageBytes"/>: the reason is cut to <see cref="MaxReasonChars"/>, the key
    /// to <see cref="MaxKeyBytes"/>, and a value that does not fit is cut to what does, with header
    /// cad-truncated giving its original length (cad-source says where the whole record is).
    /// </summary>
    public static Message<byte[]?, byte[]?> MessageFor(ConsumeResult<byte[]?, byte[]?> record, string reason, int maxMessageBytes = DefaultMaxMessageBytes)
    {
        var headers = new Headers();
        if (record.Message.Headers is { } original)
            foreach (var h in original)
                if (h.Key is not (IngressTopics.ErrorHeader or IngressTopics.SourceHeader or IngressTopics.TruncatedHeader)) headers.Add(h.Key, h.GetValueBytes());
        headers.Add(IngressTopics.ErrorHeader, Encoding.UTF8.GetBytes(Shorten(reason, MaxReasonChars)));
        headers.Add(IngressTopics.SourceHeader, Encoding.UTF8.GetBytes(record.TopicPartitionOffset.ToPosition().ToString()));
        var key = record.Message.Key is { Length: > MaxKeyBytes } k ? k[..MaxKeyBytes] : record.Message.Key;
        var value = record.Message.Value;
        long headerBytes = headers.Sum(h => (long)Encoding.UTF8.GetByteCount(h.Key) + (h.GetValueBytes()?.Length ?? 0) + 16);
        long room = Math.Max(0, maxMessageBytes - FramingBytes - (key?.Length ?? 0) - headerBytes - 32);
        if (value is not null && value.Length > room)
        {
            headers.Add(IngressTopics.TruncatedHeader, Encoding.UTF8.GetBytes(value.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            value = value[..(int)room];
        }
        return new Message<byte[]?, byte[]?>
        {
            Key = key,
            Value = value,
            Headers = headers,
            Timestamp = record.Message.Timestamp.Type == TimestampType.CreateTime ? record.Message.Timestamp : Timestamp.Default,
        };
    }

    /// <summary>
    /// <paramref name="text"/> cut to at most <paramref name="maxChars"/> characters, ending in "..." when cut,
    /// never splitting a surrogate pair. For reasons that echo a record's own fields.
    /// </summary>
    public static string Shorten(string text, int maxChars)
    {
        if (text.Length <= maxChars) return text;
        int keep = Math.Max(0, maxChars - 3);
        if (keep > 0 && char.IsHighSurrogate(text[keep - 1])) keep--;
        return string.Concat(text.AsSpan(0, keep), "...");
    }

    public void Send(CommitLedger.Entry entry, Message<byte[]?, byte[]?> message) => Send(entry, message, 1);

    void Send(CommitLedger.Entry entry, Message<byte[]?, byte[]?> message, int attempt)
    {
        for (int waited = 0; ; waited++)
        {
            try
            {
                producer.Produce(topic, message, report => delivered(new Delivered(entry, message, attempt, report.Error)));
                return;
            }
            catch (ProduceException<byte[]?, byte[]?> e) when (e.Error.Code == ErrorCode.Local_QueueFull && waited < 100)
            {
                Thread.Sleep(20); // the producer's own thread drains its queue
            }
            catch (KafkaException e)
            {
                Failed(entry, message, attempt, e.Error.Reason);
                return;
            }
        }
    }

    /// <summary>A delivery report: an acknowledged copy makes its record committable; a refused one is retried or given up.</summary>
    public void Apply(Delivered d)
    {
        if (!d.Error.IsError)
        {
            if (ledger.IsCurrent(d.Entry)) Interlocked.Increment(ref deadLettered);
            ledger.AcknowledgeDeadLetter(d.Entry);
            if (trouble is not null)
            {
                trouble = null;
                logger.LogInformation("dead-lettering works again");
                TroubleChanged?.Invoke(null);
            }
            return;
        }
        if (!ledger.IsCurrent(d.Entry)) return; // revoked: the next owner dead-letters it again
        Failed(d.Entry, d.Message, d.Attempt, d.Error.Reason);
    }

    void Failed(CommitLedger.Entry entry, Message<byte[]?, byte[]?> message, int attempt, string reason)
    {
        var source = $"{entry.TopicPartition.Topic}/{entry.TopicPartition.Partition.Value}/{entry.Offset}";
        if (attempt < attempts)
        {
            var wait = TimeSpan.FromTicks(Math.Min(MaxRetryDelay.Ticks, retryDelay.Ticks * (1L << Math.Min(attempt - 1, 20))));
            logger.LogWarning("dead-lettering {Source} failed (try {Attempt} of {Attempts}): {Reason}; retrying in {Wait:F1} s",
                source, attempt, attempts, reason, wait.TotalSeconds);
            retries.Add((entry, message, attempt + 1, Stopwatch.GetTimestamp() + (long)(wait.TotalSeconds * Stopwatch.Frequency)));
            return;
        }
        // Holding the commit point behind a copy the DLQ never takes would stall the partition and re-deliver
        // everything after it on each restart: the record is given up, loudly, with where it still is.
        Interlocked.Increment(ref givenUp);
        IngressMetrics.DeadLetterFailures.Inc();
        logger.LogError("dead-lettering {Source} failed {Attempts} times ({Reason}); given up: the record stays at {Source} in its topic until retention, its offset is committed past",
            source, attempts, reason, source);
        ledger.GiveUpDeadLetter(entry);
        trouble = $"{GivenUp} rejected record(s) could not be copied to {topic} after {attempts} tries each; last {source}: {Shorten(reason, 200)}";
        TroubleChanged?.Invoke(trouble);
    }

    /// <summary>Sends again the copies whose retry is due, of partitions still assigned.</summary>
    public void RetryDue()
    {
        if (retries.Count == 0) return;
        long now = Stopwatch.GetTimestamp();
        var due = retries.Where(r => r.DueTicks <= now).ToList();
        retries.RemoveAll(r => r.DueTicks <= now);
        foreach (var r in due)
            if (ledger.IsCurrent(r.Entry)) Send(r.Entry, r.Message, r.Attempt);
    }

    /// <summary>Drops the retries of partitions taken away: their next owner dead-letters those records again.</summary>
    public void Forget(IReadOnlySet<TopicPartition> gone) => retries.RemoveAll(r => gone.Contains(r.Entry.TopicPartition));

    /// <summary>Waits for outstanding copies to land (their reports still go to the control queue).</summary>
    public void Flush(TimeSpan timeout) => producer.Flush(timeout);

    public void Dispose() => producer.Dispose();
}
