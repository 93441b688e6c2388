using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using CadStream.Host.Cluster;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Model;
using CadStream.Model.Training;
using CadStream.Runtime;
using CadStream.Snapshots;
using CadStream.Tests.Ingress;
using CadStream.Tests.Model;
using Xunit.Abstractions;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;
using static CadStream.Tests.Ingress.Kafka.KafkaTestKit;

namespace CadStream.Tests.Host.Cluster;

/// <summary>
/// A long-lived part that fails is seen the moment it fails, by the node itself (no status query):
/// it restarts with back-off, and after repeated failures /healthz says so; once the cause is gone it
/// recovers by itself.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class LongLivedPartTests(ITestOutputHelper output)
{
    /// <summary>A sink that throws (a bug downstream) for its first offers, then records.</summary>
    sealed class FailingSink(int failures) : IPairSink
    {
        private int left = failures;
        public ConcurrentQueue<IncomingPair> Pairs { get; } = new();

        public ValueTask<bool> OfferAsync(IncomingPair pair, CancellationToken cancel)
        {
            if (Interlocked.Decrement(ref left) >= 0) throw new InvalidOperationException("the sink broke");
            Pairs.Enqueue(pair);
            return new(true);
        }
    }

    [Fact]
    public async Task A_faulted_consumer_is_reported_at_once_restarted_with_back_off_and_loses_nothing()
    {
        var log = new TestLog(output);
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 1 });
        var health = new NodeHealth(FastRestarts);
        var changes = new ConcurrentQueue<(TimeSpan At, PartStatus Status)>();
        var clock = Stopwatch.StartNew();
        health.Changed += s => { changes.Enqueue((clock.Elapsed, s)); log.Write($"health: {s.Part} {s.State} ({s.Failures}) {s.LastError}"); };
        var sink = new FailingSink(failures: 2);
        var bridge = new IngressBridge();
        using var stop = new CancellationTokenSource();
        var options = new PairConsumerOptions
        {
            BootstrapServers = kafka.BootstrapServers,
            SessionTimeoutMs = 6000,
            Logger = new LineLoggerProvider(log.Write).CreateLogger("ingress"),
        };
        // The node's own consumer loop under the node's own supervision; only the sink is a test's.
        var supervised = Supervision.RunAsync(IngressService.Part,
            (s, up) => IngressService.RunConsumerAsync(options, IngressTestKit.TestDecoder, sink, bridge, s, up), health, stop.Token);
        try
        {
            await WaitUntilAsync(() => bridge.Consumer is not null, TimeSpan.FromSeconds(30), () => "the first consumer");
            using (var producer = RawProducer(kafka)) Send(producer, "p-0", IngressTestKit.GoodJson("p-0"));
            var sent = clock.Elapsed;

            // The first failure is reported the moment the consumer fails, by the consumer's own completion.
            await WaitUntilAsync(() => changes.Any(c => c.Status.State == PartState.Restarting), TimeSpan.FromSeconds(30),
                () => "the consumer's failure to be reported");
            var first = changes.First(c => c.Status.State == PartState.Restarting);
            log.Write($"failure reported {(first.At - sent).TotalSeconds:F2} s after the record was produced");
            Assert.Contains("the sink broke", first.Status.LastError);
            // The group join of the restarted consumer takes seconds; the report itself is immediate.
            Assert.True(first.At - sent < TimeSpan.FromSeconds(15), $"reported only after {(first.At - sent).TotalSeconds:F1} s");

            // Failing twice in a row makes the node unhealthy while it keeps trying.
            await WaitUntilAsync(() => changes.Any(c => c.Status.Failures >= 2), TimeSpan.FromSeconds(60), () => "a second failure");
            Assert.Contains("kafka consumer failed 2 times in a row", health.Problem);

            // Then the sink works: a new consumer re-reads the uncommitted record (nothing lost) and the node is healthy again.
            await WaitUntilAsync(() => sink.Pairs.Count >= 1, TimeSpan.FromSeconds(60), () => "the record, delivered again to a new consumer");
            Assert.Equal("p-0", sink.Pairs.First().Id);
            await WaitUntilAsync(() => health.IsHealthy, TimeSpan.FromSeconds(10), () => $"health back (problem: {health.Problem})");
            var restarts = changes.Count(c => c.Status.State == PartState.Starting);
            Assert.Equal(3, restarts);  // the first start and two restarts
        }
        finally
        {
            stop.Cancel();
            await supervised;
        }
    }

    [Fact]
    public async Task A_trainer_worker_that_fails_restarts_turns_healthz_503_and_recovers_by_itself()
    {
        var log = new TestLog(output);
        const string modelId = "broken-cad";
        var model = TinyModel(modelId);
        var folder = TempFolder("broken");
        CadStreamNode? node = null;
        try
        {
            // Stored bytes that pass the store's sha256 check but are no snapshot: the trainer's worker fails on them.
            await using (var store = new FolderSnapshotStore(folder))
                await store.PublishAsync(modelId, "these bytes are not a CadStream snapshot, whatever their checksum says"u8.ToArray(), 1, 10, 100);

            var settings = Settings(["trainer", "serving"], [model], folder: folder) with { Supervision = FastRestarts };
            node = await StartNodeAsync(settings, log, "node");
            var clock = Stopwatch.StartNew();
            var changes = new ConcurrentQueue<(TimeSpan At, PartStatus Status)>();
            node.Health.Changed += s => changes.Enqueue((clock.Elapsed, s));
            using var http = Http(node);

            await WaitUntilAsync(() => node.Health.Parts.Any(p => p.Part == $"trainer {modelId}" && p.Failures >= 1), TimeSpan.FromSeconds(30),
                () => "the trainer's failure in the node's health");
            var failed = node.Health.Parts.Single(p => p.Part == $"trainer {modelId}");
            log.Write($"trainer failure seen after {clock.Elapsed.TotalSeconds:F1} s: {failed.LastError}");
            Assert.Contains("not a CadStream snapshot", failed.LastError);
            Assert.True(log.Count($"trainer {modelId} failed") >= 1, "no log line says the trainer failed");

            // Repeated failure: /healthz is 503 with the reason.
            await WaitUntilAsync(async () => (await http.GetAsync("/healthz")).StatusCode == HttpStatusCode.ServiceUnavailable,
                TimeSpan.FromSeconds(30), () => "/healthz to answer 503");
            using (var r = await http.GetAsync("/healthz"))
            {
                var reason = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString();
                Assert.Contains($"trainer {modelId}", reason);
            }

            // The cause goes away (a good snapshot is stored): the trainer resumes from it by itself, /healthz is 200 again.
            using (var trainer = new CadTrainer(model, TestModels.Cpu))
                await node.Store.PublishAsync(modelId, trainer.ToSnapshot(2, includeTrainingState: true).ToBytes(), 2, 0, 0);
            await WaitUntilAsync(async () => (await http.GetAsync("/healthz")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(30),
                () => $"/healthz back to 200 (problem: {node.Health.Problem})");
            Assert.Equal(PartState.Running, node.Health.Parts.Single(p => p.Part == $"trainer {modelId}").State);
            Assert.True(log.Count($"trainer {modelId}: resumed from snapshot v2") >= 1, "the trainer did not resume from v2");
            Assert.False(node.Exited.IsCompleted, "the node stopped although the part recovers");
        }
        finally
        {
            await StopAllAsync(log, node);
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task A_restarted_ingest_actor_takes_its_consumer_with_it_and_every_pair_still_commits_after_its_snapshot()
    {
        var log = new TestLog(output);
        const string modelId = "ingest-restart-cad";
        var folder = TempFolder("ingest-restart");
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 1 });
        CadStreamNode? node = null;
        var stored = new ConcurrentDictionary<string, int>();
        try
        {
            var settings = Settings(["ingress", "scorer", "trainer", "serving"], [TinyModel(modelId)], kafka.BootstrapServers, folder: folder)
                with { Supervision = FastRestarts };
            node = await StartNodeAsync(settings, log, "node", s => { foreach (var id in s.PairIds) stored.AddOrUpdate(id, 1, (_, n) => n + 1); });
            using (var producer = RawProducer(kafka))
                for (int i = 0; i < 120; i++) Send(producer, $"r-{i}", CadStream.Records.PairRecords.ToJson(Pair($"r-{i}", i)));
            await WaitUntilAsync(() => stored.Count >= 16, TimeSpan.FromSeconds(60), () => "some pairs in a stored snapshot");
            var first = node.Consumer!;

            // The ingest actor fails (a bug): its memory of batches in flight is gone, so its consumer must go too.
            var ingest = await node.System.ActorSelection("/user/ingest-1").ResolveOne(TimeSpan.FromSeconds(10));
            ingest.Tell(Akka.Actor.Kill.Instance, Akka.Actor.ActorRefs.NoSender);
            await WaitUntilAsync(() => node.Consumer is { } c && !ReferenceEquals(c, first), TimeSpan.FromSeconds(60),
                () => "a new consumer after the ingest actor's restart");
            Assert.True(log.Count("ingest actor restarted") >= 1 || log.Count("ingest actor stopped") >= 1, "no log line says why the consumer restarted");

            // Everything commits in the end, and only over pairs in a stored snapshot: none is skipped.
            await WaitForAllCommittedAsync(kafka, node.Consumer!, TimeSpan.FromSeconds(90));
            var missing = Enumerable.Range(0, 120).Select(i => $"r-{i}").Where(id => !stored.ContainsKey(id)).ToList();
            Assert.True(missing.Count == 0, $"{missing.Count} pairs committed without being stored, e.g. {string.Join(", ", missing.Take(5))}");
            log.Write($"all 120 committed; {stored.Values.Sum(n => n - 1)} trained twice (re-read from the last commit after the restart)");
        }
        finally
        {
            await StopAllAsync(log, node);
            Directory.Delete(folder, recursive: true);
        }
    }
}
