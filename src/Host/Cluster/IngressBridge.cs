using CadStream.Ingress.Kafka;

namespace CadStream.Host.Cluster;

/// <summary>The running consumer of an ingress node, for the actors (durable positions) and status (lag).</summary>
public sealed class IngressBridge
{
    private readonly TaskCompletionSource first = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile PairConsumer? consumer;

    public PairConsumer? Consumer
    {
        get => consumer;
        set
        {
            consumer = value;
            if (value is not null) first.TrySetResult();
        }
    }

    /// <summary>Completes when the first consumer runs.</summary>
    public Task FirstConsumer => first.Task;
}
