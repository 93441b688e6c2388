using Akka.Actor;
using Akka.Hosting;
using CadStream.Actors;
using CadStream.Actors.Ingest;
using CadStream.Catalog;
using CadStream.Host.Configuration;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Runtime;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CadStream.Host.Cluster;

/// <summary>
/// The Kafka consumer of an ingress node as a hosted service: consumes into an ingest actor under the
/// node's restart policy. Consumer and ingest actor live and die together (one run): if either fails
/// (a fatal Kafka error; the actor stopped, or restarted and so forgot its batches in flight), both are
/// replaced and the new consumer resumes from the group's committed offsets, so nothing that was not
/// yet reflected in a stored snapshot is skipped.
/// </summary>
public sealed class IngressService(CadStreamSettings settings, ModelCatalog catalog, IngressBridge bridge, NodeHealth health,
    ActorSystem system, ActorRegistry registry, ILoggerFactory loggers) : BackgroundService
{
    public const string Part = "kafka consumer";
    /// <summary>The part /healthz names while rejected records are given up because the DLQ refuses their copies.</summary>
    public const string DeadLetterPart = "dead-letter queue";
    private int runs;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var scorers = await registry.GetAsync<ScorerRouterKey>(stoppingToken);
        await Supervision.RunAsync(Part, (stop, up) => ConsumeAsync(scorers, stop, up), health, stoppingToken);
    }

    private async Task ConsumeAsync(IActorRef scorers, CancellationToken stop, Action up)
    {
        var forgot = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        PairConsumer? consumer = null;
        var ingest = system.ActorOf(IngestActor.PropsFor(scorers, positions => consumer?.MarkDurable(positions),
            new IngestActor.Options { RedeliverAfter = TimeSpan.FromSeconds(settings.Node.RedeliverAfterSeconds) },
            loggers.CreateLogger<IngestActor>(),
            restarted: e => forgot.TrySetException(new InvalidOperationException($"the ingest actor restarted after {e.GetType().Name}: {e.Message}; re-reading from the last commit"))),
            $"ingest-{Interlocked.Increment(ref runs)}");
        var gone = ingest.WatchAsync(CancellationToken.None);
        try
        {
            await RunConsumerAsync(new PairConsumerOptions
            {
                BootstrapServers = settings.Kafka.Bootstrap,
                Topic = settings.Kafka.Topic,
                DeadLetterTopic = settings.Kafka.DeadLetterTopic,
                DeadLetterAttempts = settings.Kafka.DeadLetterAttempts,
                MaxInFlight = settings.Node.MaxInFlightPairs,
                ConsumerConfig = settings.Kafka.ClientProperties(),
                ProducerConfig = settings.Kafka.ClientProperties(),
                Logger = loggers.CreateLogger<PairConsumer>(),
            }, new PairDecoder(catalog, settings.Ingress), new ActorPairSink(ingest), bridge, stop, up,
                // Revoked partitions go to another ingress node: stop tracking (and re-sending) their batches here.
                parts => ingest.Tell(new IngestActor.Revoked(parts.Select(p => (p.Topic, p.Partition.Value)).ToArray())),
                started: c =>
                {
                    consumer = c;
                    c.DeadLetterTrouble += problem => health.Trouble(DeadLetterPart, problem);
                },
                alsoEndsOn: Task.WhenAny(forgot.Task, gone.ContinueWith(_ => throw new InvalidOperationException("the ingest actor stopped; re-reading from the last commit"),
                    TaskScheduler.Default)).Unwrap());
        }
        finally { system.Stop(ingest); }
    }

    /// <summary>
    /// One consumer's life: starts it, publishes it on the bridge, calls <paramref name="up"/>, and ends when
    /// <paramref name="stop"/> fires (stopping it cleanly), when the consumer fails, or when
    /// <paramref name="alsoEndsOn"/> faults (rethrowing that failure, which the supervision turns into a restart).
    /// </summary>
    public static async Task RunConsumerAsync(PairConsumerOptions options, PairDecoder decoder, IPairSink sink, IngressBridge bridge,
        CancellationToken stop, Action up, Action<IReadOnlyList<Confluent.Kafka.TopicPartition>>? revoked = null,
        Action<PairConsumer>? started = null, Task? alsoEndsOn = null)
    {
        using var consumer = new PairConsumer(options, decoder, sink);
        if (revoked is not null) consumer.PartitionsRevoked += revoked;
        started?.Invoke(consumer);
        consumer.Start();
        bridge.Consumer = consumer;
        up();
        try
        {
            var ended = await Task.WhenAny(consumer.Completion, alsoEndsOn ?? Task.Delay(Timeout.Infinite, stop)).WaitAsync(stop);
            await ended;  // rethrows what ended the run
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
        finally
        {
            if (ReferenceEquals(bridge.Consumer, consumer)) bridge.Consumer = null;
            await consumer.StopAsync();
        }
        await consumer.Completion;  // rethrows the consumer's failure, if it failed
    }
}
