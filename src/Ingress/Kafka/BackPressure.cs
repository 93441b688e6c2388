using Confluent.Kafka;

namespace CadStream.Ingress.Kafka;

/// <summary>
/// The <see cref="PairConsumer"/>'s back-pressure: pairs the sink did not take yet wait here, in order, and
/// the partitions are paused while any wait or too many records are undurable (the loop keeps polling, so
/// the consumer stays in its group). Used on the consumer's thread only; <see cref="IsPaused"/> may be read anywhere.
/// </summary>
internal sealed class BackPressure(IConsumer<byte[]?, byte[]?> consumer, IPairSink sink, int maxInFlight, CancellationToken stop)
{
    private readonly Queue<IncomingPair> waiting = new();
    private readonly HashSet<TopicPartition> paused = [];
    private volatile bool isPaused;

    /// <summary>Whether the partitions are paused (sink full or too many undurable records).</summary>
    public bool IsPaused => isPaused;

    /// <summary>Queues a pair behind those still waiting and offers them all.</summary>
    public void Add(IncomingPair pair)
    {
        waiting.Enqueue(pair);
        Offer();
    }

    /// <summary>Hands the waiting pairs to the sink, in order, until it takes no more.</summary>
    public void Offer()
    {
        while (waiting.TryPeek(out var pair))
        {
            var offer = sink.OfferAsync(pair, stop);
            bool taken = offer.IsCompletedSuccessfully ? offer.Result : offer.AsTask().GetAwaiter().GetResult();
            if (!taken) return;
            waiting.Dequeue();
        }
    }

    /// <summary>Pauses the assigned partitions while pairs wait or <paramref name="inFlight"/> reaches the bound; resumes them otherwise.</summary>
    public void Update(TopicPartition[] assignment, int inFlight)
    {
        bool want = waiting.Count > 0 || inFlight >= maxInFlight;
        if (want)
        {
            var toPause = assignment.Where(tp => !paused.Contains(tp)).ToList();
            if (toPause.Count > 0)
            {
                consumer.Pause(toPause);
                paused.UnionWith(toPause);
            }
        }
        else if (paused.Count > 0)
        {
            consumer.Resume(assignment);
            paused.Clear();
        }
        isPaused = paused.Count > 0;
    }

    /// <summary>Partitions taken away: no longer paused here, and their waiting pairs are dropped (delivered again elsewhere).</summary>
    public void Forget(IReadOnlySet<TopicPartition> gone)
    {
        paused.ExceptWith(gone);
        if (waiting.Count > 0)
        {
            var keep = waiting.Where(p => !gone.Contains(p.Position.ToTopicPartition())).ToList();
            waiting.Clear();
            foreach (var p in keep) waiting.Enqueue(p);
        }
        isPaused = paused.Count > 0;
    }
}
