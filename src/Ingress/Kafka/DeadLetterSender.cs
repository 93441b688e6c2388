using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace CadStream.Ingress.Kafka;

/// <summary>
/// The <see cref="PairConsumer"/>'s dead-lettering: copies a rejected record, unchanged, to the DLQ with
/// cad-error and cad-source headers, retries a copy the broker refused (after a second) while its
/// partition is still assigned, and tells the <see cref="CommitLedger"/> once the broker acknowledged it.
/// Used on the consumer's thread only, except the delivery reports, which arrive on the producer's
/// thread and go through <paramref name="delivered"/> (the consumer's control queue).
/// </summary>
internal sealed class DeadLetterSender : IDisposable
{
    /// <summary>The broker's report on one DLQ copy, applied on the consumer's thread (<see cref="Apply"/>).</summary>
    public sealed record Delivered(CommitLedger.Entry Entry, Message<byte[]?, byte[]?> Message, Error Error);

    private readonly string topic;
    private readonly CommitLedger ledger;
    private readonly Action<Delivered> delivered;
    private readonly ILogger logger;
    private readonly IProducer<byte[]?, byte[]?> producer;
    private readonly List<(CommitLedger.Entry Entry, Message<byte[]?, byte[]?> Message, long DueTicks)> retries = [];
    private long deadLettered;

    /// <exception cref="InvalidDataException">The producer's settings are refused (explained).</exception>
    public DeadLetterSender(PairConsumerOptions options, CommitLedger ledger, Action<Delivered> delivered, ILogger logger)
    {
        topic = options.DeadLetterTopic;
        this.ledger = ledger;
        this.delivered = delivered;
        this.logger = logger;
        try
        {
            producer = new ProducerBuilder<byte[]?, byte[]?>(PairConsumer.DeadLetterConfigFor(options))
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

    /// <summary>The DLQ copy of a rejected record: its key, value and headers, plus why and where it came from.</summary>
    public static Message<byte[]?, byte[]?> MessageFor(ConsumeResult<byte[]?, byte[]?> record, string reason)
    {
        var headers = new Headers();
        if (record.Message.Headers is { } original)
            foreach (var h in original)
                if (h.Key is not (IngressTopics.ErrorHeader or IngressTopics.SourceHeader)) headers.Add(h.Key, h.GetValueBytes());
        headers.Add(IngressTopics.ErrorHeader, Encoding.UTF8.GetBytes(reason));
        headers.Add(IngressTopics.SourceHeader, Encoding.UTF8.GetBytes(record.TopicPartitionOffset.ToPosition().ToString()));
        return new Message<byte[]?, byte[]?>
        {
            Key = record.Message.Key,
            Value = record.Message.Value,
            Headers = headers,
            Timestamp = record.Message.Timestamp.Type == TimestampType.CreateTime ? record.Message.Timestamp : Timestamp.Default,
        };
    }

    public void Send(CommitLedger.Entry entry, Message<byte[]?, byte[]?> message)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                producer.Produce(topic, message, report => delivered(new Delivered(entry, message, report.Error)));
                return;
            }
            catch (ProduceException<byte[]?, byte[]?> e) when (e.Error.Code == ErrorCode.Local_QueueFull && attempt < 100)
            {
                Thread.Sleep(20); // the producer's own thread drains its queue
            }
            catch (KafkaException e)
            {
                logger.LogWarning("dead-lettering {Topic}/{Partition}/{Offset}: {Reason}; retrying", entry.TopicPartition.Topic, entry.TopicPartition.Partition.Value, entry.Offset, e.Error.Reason);
                retries.Add((entry, message, Stopwatch.GetTimestamp() + Stopwatch.Frequency));
                return;
            }
        }
    }

    /// <summary>A delivery report: an acknowledged copy makes its record committable; a refused one is retried.</summary>
    public void Apply(Delivered d)
    {
        if (!d.Error.IsError)
        {
            if (ledger.IsCurrent(d.Entry)) Interlocked.Increment(ref deadLettered);
            ledger.AcknowledgeDeadLetter(d.Entry);
            return;
        }
        if (!ledger.IsCurrent(d.Entry)) return; // revoked: the next owner dead-letters it again
        logger.LogWarning("dead-lettering {Topic}/{Partition}/{Offset} failed: {Reason}; retrying", d.Entry.TopicPartition.Topic, d.Entry.TopicPartition.Partition.Value, d.Entry.Offset, d.Error.Reason);
        retries.Add((d.Entry, d.Message, Stopwatch.GetTimestamp() + Stopwatch.Frequency));
    }

    /// <summary>Sends again the copies whose retry is due, of partitions still assigned.</summary>
    public void RetryDue()
    {
        if (retries.Count == 0) return;
        long now = Stopwatch.GetTimestamp();
        var due = retries.Where(r => r.DueTicks <= now).ToList();
        retries.RemoveAll(r => r.DueTicks <= now);
        foreach (var r in due)
            if (ledger.IsCurrent(r.Entry)) Send(r.Entry, r.Message);
    }

    /// <summary>Drops the retries of partitions taken away: their next owner dead-letters those records again.</summary>
    public void Forget(IReadOnlySet<TopicPartition> gone) => retries.RemoveAll(r => gone.Contains(r.Entry.TopicPartition));

    /// <summary>Waits for outstanding copies to land (their reports still go to the control queue).</summary>
    public void Flush(TimeSpan timeout) => producer.Flush(timeout);

    public void Dispose() => producer.Dispose();
}
