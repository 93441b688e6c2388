using System.Threading.Channels;

namespace CadStream.Ingress;

/// <summary>Where the consumer hands decoded pairs (the trainer's input queue).</summary>
public interface IPairSink
{
    /// <summary>
    /// Takes <paramref name="pair"/>, or answers false when full right now. On false the consumer
    /// pauses its partitions and offers the same pair again later (back-pressure); nothing is lost.
    /// Should complete quickly: the consumer loop waits for the answer.
    /// </summary>
    ValueTask<bool> OfferAsync(IncomingPair pair, CancellationToken cancel);
}

/// <summary>A bounded in-memory queue of pairs: full = back-pressure. Read from <see cref="Reader"/>.</summary>
public sealed class ChannelPairSink : IPairSink
{
    private readonly Channel<IncomingPair> channel;

    public ChannelPairSink(int capacity)
    {
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), "capacity must be at least 1");
        Capacity = capacity;
        channel = Channel.CreateBounded<IncomingPair>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = false,
            SingleWriter = true,
        });
    }

    public int Capacity { get; }
    public ChannelReader<IncomingPair> Reader => channel.Reader;
    public int Count => channel.Reader.Count;

    public ValueTask<bool> OfferAsync(IncomingPair pair, CancellationToken cancel) => new(channel.Writer.TryWrite(pair));
}
