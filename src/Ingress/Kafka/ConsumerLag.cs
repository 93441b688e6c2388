using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;

namespace CadStream.Ingress.Kafka;

/// <summary>
/// The <see cref="PairConsumer"/>'s lag reporting: per assigned partition, high watermark - position, every
/// interval, kept for <see cref="Current"/> (read anywhere) and exported as the consumer-lag gauge.
/// Refreshed on the consumer's thread only (the Kafka calls belong there).
/// </summary>
internal sealed class ConsumerLag(IConsumer<byte[]?, byte[]?> consumer, TimeSpan interval)
{
    private readonly ConcurrentDictionary<TopicPartition, long> lag = new();
    private long nextUpdate;

    public IReadOnlyDictionary<TopicPartition, long> Current => new Dictionary<TopicPartition, long>(lag);

    /// <summary>Measures the lag of <paramref name="assignment"/> when the interval has passed.</summary>
    public void UpdateDue(TopicPartition[] assignment)
    {
        long now = Stopwatch.GetTimestamp();
        if (now < nextUpdate) return;
        nextUpdate = now + (long)(interval.TotalSeconds * Stopwatch.Frequency);
        foreach (var tp in assignment)
        {
            try
            {
                var position = consumer.Position(tp);
                var marks = consumer.GetWatermarkOffsets(tp);
                if (marks.High.IsSpecial) continue;
                long behind;
                if (!position.IsSpecial) behind = Math.Max(0, marks.High.Value - position.Value);
                else if (marks.High.Value == 0) behind = 0;
                else continue; // nothing fetched yet: unknown
                lag[tp] = behind;
                IngressMetrics.ConsumerLag.WithLabels(tp.Topic, tp.Partition.Value.ToString(CultureInfo.InvariantCulture)).Set(behind);
            }
            catch (KafkaException) { /* not assigned any more */ }
        }
    }

    /// <summary>A partition taken away: its lag is another consumer's to report.</summary>
    public void Forget(TopicPartition tp)
    {
        lag.TryRemove(tp, out _);
        IngressMetrics.ConsumerLag.RemoveLabelled(tp.Topic, tp.Partition.Value.ToString(CultureInfo.InvariantCulture));
    }
}
