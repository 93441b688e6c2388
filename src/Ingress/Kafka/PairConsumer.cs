using System.Collections.Concurrent;
using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CadStream.Ingress.Kafka;

/// <summary>
/// Reads cad.pairs in group cadstream-ingress, hands each valid pair to an <see cref="IPairSink"/>
/// and dead-letters the rest (unchanged but for a value too large for the DLQ, which is cut; with
/// cad-error and cad-source headers, see <see cref="DeadLetterSender"/>). Offsets are
/// committed by hand, only over records that are handled: pairs once they are reported durable
/// (<see cref="MarkDurable"/>), rejected records once their DLQ copy is acknowledged (see
/// <see cref="CommitLedger"/>). A full sink or too many undurable records pause the
/// partitions; the loop keeps polling so the consumer stays in its group. All Kafka calls
/// happen on the consumer's own thread; the public members are thread-safe. This class is the
/// poll loop and its commits; dead-lettering (<see cref="DeadLetterSender"/>), back-pressure
/// (<see cref="BackPressure"/>) and lag reporting (<see cref="ConsumerLag"/>) are its parts.
/// </summary>
public sealed class PairConsumer : IDisposable
{
    private readonly PairConsumerOptions options;
    private readonly PairDecoder decoder;
    private readonly ILogger logger;
    private readonly IConsumer<byte[]?, byte[]?> consumer;
    private readonly DeadLetterSender deadLetters;
    private readonly BackPressure backPressure;
    private readonly ConsumerLag lag;
    private readonly CommitLedger ledger = new();
    // Durable marks (from any thread) and DLQ delivery reports (the producer's thread), applied on the consumer's thread in order.
    private readonly ConcurrentQueue<object> control = new();
    private readonly ConcurrentDictionary<TopicPartition, long> committed = new();
    private readonly CancellationTokenSource stop = new();
    private readonly TaskCompletionSource completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Thread? thread;
    private long accepted, rejected, polls, commitChecks;
    private volatile int inFlight;
    private volatile TopicPartition[] assignment = [];
    private long nextCommit;
    private int disposed;

    sealed record DurableMark(TopicPartition TopicPartition, long Offset, bool UpTo);

    public PairConsumer(PairConsumerOptions options, PairDecoder decoder, IPairSink sink)
    {
        this.options = options;
        this.decoder = decoder;
        if (options.MaxInFlight < 1) throw new ArgumentException("MaxInFlight must be at least 1");
        logger = options.Logger ?? NullLogger.Instance;

        try
        {
            consumer = new ConsumerBuilder<byte[]?, byte[]?>(ConsumerConfigFor(options))
                .SetErrorHandler((_, e) => logger.LogWarning("kafka consumer: {Reason}{Fatal}", e.Reason, e.IsFatal ? " (fatal)" : ""))
                .SetLogHandler((_, m) => { if (m.Level <= SyslogLevel.Warning) logger.LogWarning("kafka consumer: {Message}", m.Message); })
                .SetPartitionsAssignedHandler((_, parts) => OnAssigned(parts))
                .SetPartitionsRevokedHandler((c, parts) => OnRevoked(c, parts.Select(p => p.TopicPartition).ToList(), commit: true))
                .SetPartitionsLostHandler((c, parts) => OnRevoked(c, parts.Select(p => p.TopicPartition).ToList(), commit: false))
                .Build();
        }
        catch (Exception e) when (e is KafkaException or ArgumentException)
        {
            throw KafkaClientSettings.Explain(e, options.ConsumerConfig);
        }

        try
        {
            deadLetters = new DeadLetterSender(options, ledger, control.Enqueue, logger);
        }
        catch (InvalidDataException)  // refused settings, explained
        {
            consumer.Dispose();
            throw;
        }
        backPressure = new BackPressure(consumer, sink, options.MaxInFlight, stop.Token);
        lag = new ConsumerLag(consumer, options.LagInterval);
    }

    /// <summary>
    /// The consumer's librdkafka settings: the engine's (group, manual commits, earliest) with the
    /// pass-through <see cref="PairConsumerOptions.ConsumerConfig"/> over its tuning defaults. A pass-through
    /// key the engine owns is refused (<see cref="KafkaClientSettings.EngineOwned"/>).
    /// </summary>
    public static ConsumerConfig ConsumerConfigFor(PairConsumerOptions options)
    {
        var cc = new ConsumerConfig
        {
            ClientId = "cadstream-ingress",
            SessionTimeoutMs = options.SessionTimeoutMs,
            FetchWaitMaxMs = 100,
            AllowAutoCreateTopics = true,
            // Incremental rebalancing: a consumer joining or leaving moves only the partitions that change hands;
            // the others keep flowing, and their pairs in flight are not read (and trained) a second time.
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
        };
        KafkaClientSettings.ApplyTo(cc, options.ConsumerConfig);
        cc.BootstrapServers = options.BootstrapServers;
        cc.GroupId = options.GroupId;
        cc.EnableAutoCommit = false;
        cc.EnableAutoOffsetStore = false;
        cc.AutoOffsetReset = AutoOffsetReset.Earliest;
        cc.EnablePartitionEof = false;
        return cc;
    }

    /// <summary>The dead-letter producer's settings: acks=all, with the pass-through <see cref="PairConsumerOptions.ProducerConfig"/>.</summary>
    public static ProducerConfig DeadLetterConfigFor(PairConsumerOptions options)
    {
        var pc = new ProducerConfig
        {
            ClientId = "cadstream-ingress-dlq",
            LingerMs = 5,
        };
        KafkaClientSettings.ApplyTo(pc, options.ProducerConfig);
        pc.BootstrapServers = options.BootstrapServers;
        pc.Acks = Acks.All;
        return pc;
    }

    /// <summary>Pairs handed on (decoded and valid).</summary>
    public long Accepted => Interlocked.Read(ref accepted);
    /// <summary>Records rejected (bound for the DLQ).</summary>
    public long Rejected => Interlocked.Read(ref rejected);
    /// <summary>Rejected records whose DLQ copy the broker acknowledged.</summary>
    public long DeadLettered => deadLetters.DeadLettered;
    /// <summary>Rejected records given up after <see cref="PairConsumerOptions.DeadLetterAttempts"/> refused copies (committed past).</summary>
    public long DeadLetterFailures => deadLetters.GivenUp;

    /// <summary>
    /// Raised on the consumer's thread when rejected records are given up because the DLQ keeps refusing
    /// their copies (a one-line problem for /healthz), and with null once a copy lands again.
    /// </summary>
    public event Action<string?>? DeadLetterTrouble
    {
        add => deadLetters.TroubleChanged += value;
        remove => deadLetters.TroubleChanged -= value;
    }

    /// <summary>Whether the partitions are paused (sink full or too many undurable records).</summary>
    public bool IsPaused => backPressure.IsPaused;
    /// <summary>Records read and not yet committable.</summary>
    public int InFlight => inFlight;
    public IReadOnlyList<TopicPartition> Assignment => assignment;
    /// <summary>Per partition: high watermark - position, refreshed every <see cref="PairConsumerOptions.LagInterval"/>.</summary>
    public IReadOnlyDictionary<TopicPartition, long> Lag => lag.Current;
    /// <summary>Per partition: the last offset this consumer committed (the next one to read).</summary>
    public IReadOnlyDictionary<TopicPartition, long> CommittedOffsets => new Dictionary<TopicPartition, long>(committed);
    /// <summary>
    /// Polls made (each also applied durable marks and offered waiting pairs). Lets a caller wait until the
    /// consumer has had its chance to act, rather than for a fixed time, before checking that it did not.
    /// </summary>
    public long Polls => Interlocked.Read(ref polls);
    /// <summary>Times the consumer looked for commits due (every <see cref="PairConsumerOptions.CommitInterval"/>), whether or not one was.</summary>
    public long CommitChecks => Interlocked.Read(ref commitChecks);
    /// <summary>Ends when the consumer stops; faulted if it failed (a fatal Kafka error or a sink exception).</summary>
    public Task Completion => completion.Task;

    /// <summary>Raised on the consumer thread when partitions are taken away; their undurable pairs will be delivered again elsewhere.</summary>
    public event Action<IReadOnlyList<TopicPartition>>? PartitionsRevoked;

    public PairConsumer Start()
    {
        if (thread is not null) throw new InvalidOperationException("already started");
        thread = new Thread(Loop) { IsBackground = true, Name = "cad-ingress-consumer" };
        thread.Start();
        return this;
    }

    /// <summary>
    /// Stored snapshots reflect the pairs at these positions. The consumer commits past a pair once
    /// every earlier record of its partition is handled too.
    /// </summary>
    public void MarkDurable(IEnumerable<RecordPosition> pairs)
    {
        foreach (var p in pairs) control.Enqueue(new DurableMark(p.ToTopicPartition(), p.Offset, UpTo: false));
    }

    /// <summary>Stored snapshots reflect every pair up to these offsets (inclusive), per partition.</summary>
    public void MarkDurableUpTo(IReadOnlyDictionary<TopicPartition, long> upToOffsetInclusive)
    {
        foreach (var (tp, offset) in upToOffsetInclusive) control.Enqueue(new DurableMark(tp, offset, UpTo: true));
    }

    /// <summary>Stops the loop, commits what is committable, leaves the group.</summary>
    public async Task StopAsync()
    {
        stop.Cancel();
        if (thread is null) return;
        try { await completion.Task.ConfigureAwait(false); }
        catch (Exception) { /* reported through Completion */ }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        StopAsync().GetAwaiter().GetResult();
        consumer.Dispose();
        deadLetters.Dispose();
        stop.Dispose();
    }

    void Loop()
    {
        Exception? failure = null;
        try
        {
            consumer.Subscribe(options.Topic);
            while (!stop.IsCancellationRequested)
            {
                ApplyControl();
                backPressure.Offer();
                backPressure.Update(assignment, ledger.InFlight);
                CommitDue(force: false);
                lag.UpdateDue(assignment);
                ConsumeResult<byte[]?, byte[]?>? record;
                Interlocked.Increment(ref polls);
                try
                {
                    record = consumer.Consume(TimeSpan.FromMilliseconds(backPressure.IsPaused ? 50 : 100));
                }
                catch (ConsumeException e) when (!e.Error.IsFatal)
                {
                    logger.LogWarning("consume: {Reason}", e.Error.Reason);
                    continue;
                }
                if (record is null || record.IsPartitionEOF || record.Message is null) continue;
                Handle(record);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
        catch (Exception e)
        {
            failure = e;
            logger.LogError("consumer stopped: {Type}: {Error}", e.GetType().Name, e.Message);
        }
        try
        {
            // Let outstanding DLQ copies land so their records can be committed, then leave the group.
            deadLetters.Flush(TimeSpan.FromSeconds(5));
            ApplyControl();
            CommitDue(force: true);
            consumer.Close();
        }
        catch (Exception e) when (e is KafkaException or ObjectDisposedException or InvalidOperationException)
        {
            logger.LogWarning("closing the consumer: {Error}", e.Message);
        }
        if (failure is null) completion.TrySetResult(); else completion.TrySetException(failure);
    }

    void Handle(ConsumeResult<byte[]?, byte[]?> record)
    {
        var tp = record.TopicPartition;
        PairDecodeResult result;
        try { result = decoder.Decode(record); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            result = PairDecodeResult.Reject($"undecodable record ({e.GetType().Name}: {e.Message.Split('\n')[0]})");
        }
        if (result.Pair is { } pair)
        {
            Interlocked.Increment(ref accepted);
            IngressMetrics.Accepted.Inc();
            if (ledger.Track(tp, record.Offset.Value, deadLetter: false) is null) return; // redelivery already tracked
            backPressure.Add(pair);
        }
        else
        {
            Interlocked.Increment(ref rejected);
            IngressMetrics.Rejected.Inc();
            var entry = ledger.Track(tp, record.Offset.Value, deadLetter: true);
            var message = DeadLetterSender.MessageFor(record, result.Rejection!, deadLetters.MaxMessageBytes);
            if (entry is not null) deadLetters.Send(entry, message);
        }
        inFlight = ledger.InFlight;
    }

    void ApplyControl()
    {
        while (control.TryDequeue(out var item))
        {
            switch (item)
            {
                case DurableMark { UpTo: true } m:
                    ledger.MarkDurableUpTo(m.TopicPartition, m.Offset);
                    break;
                case DurableMark m:
                    ledger.MarkDurable(m.TopicPartition, m.Offset);
                    break;
                case DeadLetterSender.Delivered d:
                    deadLetters.Apply(d);
                    break;
            }
        }
        deadLetters.RetryDue();
        inFlight = ledger.InFlight;
    }

    void CommitDue(bool force)
    {
        long now = Stopwatch.GetTimestamp();
        if (!force && now < nextCommit) return;
        nextCommit = now + (long)(options.CommitInterval.TotalSeconds * Stopwatch.Frequency);
        var due = ledger.CommitsDue();
        if (due.Count > 0) Commit(consumer, due);
        Interlocked.Increment(ref commitChecks);
    }

    void Commit(IConsumer<byte[]?, byte[]?> c, IReadOnlyList<TopicPartitionOffset> due)
    {
        try
        {
            c.Commit(due);
            ledger.Committed(due);
            foreach (var o in due) committed[o.TopicPartition] = o.Offset.Value;
        }
        catch (KafkaException e)
        {
            logger.LogWarning("commit of {Offsets} failed: {Reason}; will retry", string.Join(", ", due.Select(d => $"{d.Partition.Value}:{d.Offset.Value}")), e.Error.Reason);
        }
    }

    void OnAssigned(List<TopicPartition> parts)
    {
        foreach (var tp in parts) ledger.Assign(tp);
        assignment = assignment.Union(parts).ToArray();
    }

    void OnRevoked(IConsumer<byte[]?, byte[]?> c, List<TopicPartition> parts, bool commit)
    {
        if (commit)
        {
            ApplyControl();
            var due = ledger.CommitsDue().Where(o => parts.Contains(o.TopicPartition)).ToList();
            if (due.Count > 0) Commit(c, due);
        }
        var gone = parts.ToHashSet();
        foreach (var tp in parts)
        {
            ledger.Revoke(tp);
            committed.TryRemove(tp, out _);
            lag.Forget(tp);
        }
        deadLetters.Forget(gone);
        assignment = assignment.Where(tp => !gone.Contains(tp)).ToArray();
        inFlight = ledger.InFlight;
        backPressure.Forget(gone);
        try { PartitionsRevoked?.Invoke(parts); }
        catch (Exception e) { logger.LogWarning("PartitionsRevoked handler: {Error}", e.Message); }
    }
}
