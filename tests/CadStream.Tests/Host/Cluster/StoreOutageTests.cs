using System.Collections.Concurrent;
using System.Diagnostics;
using CadStream.Host.Cluster;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Records;
using CadStream.Model;
using CadStream.Runtime;
using CadStream.Snapshots;
using CadStream.Snapshots.Redis;
using CadStream.Tests.Snapshots.Redis;
using Xunit.Abstractions;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;
using static CadStream.Tests.Ingress.Kafka.KafkaTestKit;

namespace CadStream.Tests.Host.Cluster;

/// <summary>
/// The snapshot store goes away: a real redis-server with its append-only file, killed and started
/// again on the same port. Training never waits for it, publishing backs off instead of hammering
/// it, and once it is back every pair ends up in a stored snapshot, under versions that only rise.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class StoreOutageTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Redis_down_for_30_s_training_goes_on_publishing_backs_off_and_afterwards_every_offset_commits_under_rising_versions()
    {
        var log = new TestLog(output);
        const string modelId = "outage-cad";
        var folder = TempFolder("redis-aof");
        var redis = new RedisServer { DataFolder = folder };
        await redis.InitializeAsync();
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 2 });
        CadStreamNode? node = null;
        using var stopProducing = new CancellationTokenSource();
        using var stopWatching = new CancellationTokenSource();
        Task<long>? producing = null;
        Task? watching = null;
        var history = new ConcurrentQueue<(long Version, long Steps, long Samples)>();
        try
        {
            // Every version is kept, so each one can be checked at the end.
            var settings = Settings(["ingress", "scorer", "trainer", "serving"], [TinyModel(modelId)], kafka.BootstrapServers, redis.Endpoint)
                with { Supervision = FastRestarts };
            settings = settings with { Snapshots = settings.Snapshots with { Keep = 1000 } };
            node = await StartNodeAsync(settings, log, "node");
            using var http = Http(node);
            watching = WatchLatestAsync(redis.Admin.GetDatabase(), modelId, history, stopWatching.Token);
            producing = Task.Run(() => ProduceSteadily(kafka.BootstrapServers, 10, log, stopProducing.Token, "o-"));
            await WaitUntilAsync(() => history.LastOrDefault().Version >= 2, TimeSpan.FromSeconds(90),
                () => $"two stored snapshots (latest {history.LastOrDefault()})");

            long stepsBefore = await StepsAsync(http, modelId);
            double failuresBefore = await MetricAsync(http, "cad_snapshot_publish_failures_total", modelId);
            redis.Stop();
            var outage = Stopwatch.StartNew();
            log.Write($"redis stopped at v{history.Last().Version}, step {stepsBefore}");

            // Training goes on through the outage, step after step.
            var steps = new List<long>();
            while (outage.Elapsed < TimeSpan.FromSeconds(30))
            {
                steps.Add(await StepsAsync(http, modelId));
                await Task.Delay(TimeSpan.FromSeconds(5));
            }
            double failuresDuring = await MetricAsync(http, "cad_snapshot_publish_failures_total", modelId) - failuresBefore;
            log.Write($"during the outage: steps {string.Join(", ", steps)}; {failuresDuring} failed publishes in {outage.Elapsed.TotalSeconds:F0} s");
            for (int i = 1; i < steps.Count; i++)
                Assert.True(steps[i] > steps[i - 1], $"training stalled during the outage: steps {string.Join(", ", steps)}");
            // Back-off: attempts after 1, 2, 4, 8, 16 s, not one per snapshot interval (2 s) or per step.
            Assert.InRange(failuresDuring, 2, 7);
            // One warning per failed attempt, not a flood.
            Assert.InRange(log.Count(": storing snapshot v"), 1, 8);

            await redis.StartAgainAsync();
            log.Write($"redis started again after {outage.Elapsed.TotalSeconds:F1} s");
            var down = history.Last();
            await WaitUntilAsync(() => history.Last().Version > down.Version, TimeSpan.FromSeconds(60),
                () => $"a snapshot stored after the outage (latest v{history.Last().Version})");
            log.Write($"first snapshot after the outage: {history.Last()} at {outage.Elapsed.TotalSeconds:F1} s");

            stopProducing.Cancel();
            long produced = await producing;
            await WaitForAllCommittedAsync(kafka, node.Consumer!, TimeSpan.FromSeconds(120));
            Assert.Equal(produced, node.Consumer!.Accepted);
            log.Write($"all {produced} pairs committed, {outage.Elapsed.TotalSeconds:F1} s after the outage began");

            // Versions only rose, and every one of them is whole (sha256 checked on fetch, then parsed).
            stopWatching.Cancel();
            await watching;
            var seen = history.ToArray();
            for (int i = 1; i < seen.Length; i++)
                Assert.True(seen[i].Version > seen[i - 1].Version && seen[i].Steps >= seen[i - 1].Steps,
                    $"latest went from {seen[i - 1]} to {seen[i]}");
            await using var store = await RedisSnapshotStore.ConnectAsync(redis.Endpoint);
            var versions = (await store.ListVersionsAsync(modelId)).Select(i => i.Version).ToList();
            Assert.Equal(versions.Distinct().Count(), versions.Count);
            Assert.Equal(seen[^1].Version, versions.Max());
            foreach (var v in versions)
            {
                var snapshot = CadSnapshot.FromBytes(await store.FetchAsync(modelId, v));
                Assert.Equal(v, snapshot.Version);
            }
            log.Write($"versions kept: {string.Join(", ", versions.Order())}");
        }
        finally
        {
            stopProducing.Cancel();
            if (producing is not null) await producing.ContinueWith(_ => { });
            stopWatching.Cancel();
            if (watching is not null) await watching.ContinueWith(_ => { });
            await StopAllAsync(log, node);
            await redis.DisposeAsync();
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task A_trainer_started_while_redis_is_down_trains_by_itself_once_redis_is_up()
    {
        var log = new TestLog(output);
        const string modelId = "late-store-cad";
        var folder = TempFolder("redis-late");
        var redis = new RedisServer { DataFolder = folder };
        await redis.InitializeAsync();
        redis.Stop();
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 1 });
        CadStreamNode? node = null;
        try
        {
            using (var producer = RawProducer(kafka))
                for (int i = 0; i < 64; i++) Send(producer, $"l-{i}", PairRecords.ToJson(Pair($"l-{i}", i)));
            var settings = Settings(["ingress", "scorer", "trainer", "serving"], [TinyModel(modelId)], kafka.BootstrapServers, redis.Endpoint)
                with { Supervision = FastRestarts };
            node = await StartNodeAsync(settings, log, "node");
            string part = $"trainer {modelId}";
            // The node sees the failed resume itself (no status query asks).
            await WaitUntilAsync(() => node.Health.Parts.Any(p => p.Part == part && p.Failures >= 2), TimeSpan.FromSeconds(60),
                () => "the trainer's failed starts in the node's health");
            log.Write($"trainer failing while redis is down: {node.Health.Parts.Single(p => p.Part == part).LastError}");
            Assert.False(node.Health.IsHealthy);

            await redis.StartAgainAsync();
            var clock = Stopwatch.StartNew();
            var db = redis.Admin.GetDatabase();
            // Proven from the store alone: a snapshot appears that reflects the pairs.
            await WaitUntilAsync(async () =>
            {
                try { return (long?)await db.HashGetAsync($"cad:model:{modelId}:latest", "samples") >= 64; }
                catch (StackExchange.Redis.RedisException) { return false; }
            }, TimeSpan.FromSeconds(90), () => "a stored snapshot with the 64 pairs");
            log.Write($"trained and stored {clock.Elapsed.TotalSeconds:F1} s after redis came up");
            await WaitUntilAsync(() => node.Health.IsHealthy, TimeSpan.FromSeconds(30), () => $"health back (problem: {node.Health.Problem})");
            await WaitForAllCommittedAsync(kafka, node.Consumer!, TimeSpan.FromSeconds(60));
        }
        finally
        {
            await StopAllAsync(log, node);
            await redis.DisposeAsync();
            Directory.Delete(folder, recursive: true);
        }
    }
}
