using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using CadStream.Host.Cluster;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Ingress.Producing;
using CadStream.Records;
using CadStream.Model;
using CadStream.Tests.Snapshots.Redis;
using StackExchange.Redis;
using Xunit.Abstractions;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;
using AkkaCluster = Akka.Cluster.Cluster;

namespace CadStream.Tests.Host.Cluster;

/// <summary>
/// A trainer node dies under load. The victim is a real `cadstream node --roles trainer` process,
/// killed outright, so nothing it trained after its last snapshot survives; the other trainer node
/// (in this process) must take the model over from Redis and the ingress node must re-send what the
/// dead one never stored.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class FailoverTests(ITestOutputHelper output)
{
    const string ModelId = "failover-cad";
    /// <summary>The ingest actor's warning when it sends batches again (their trainer is gone).</summary>
    const string Resent = "again to failover-cad";

    [Fact]
    public async Task A_killed_trainer_nodes_model_resumes_on_the_other_trainer_from_redis_and_no_pair_is_lost()
    {
        var log = new TestLog(output);
        // Every step takes up to a whole batch of fresh pairs, so the survivor catches up quickly after the outage.
        var model = TinyModel(ModelId) with { ReplayFraction = 0 };
        var redis = new RedisServer();
        await redis.InitializeAsync();
        var folder = TempFolder("failover");
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 2 });
        CadStreamNode? front = null, survivor = null;
        Process? victim = null;
        using var stopProducing = new CancellationTokenSource();
        Task<long>? producing = null;
        Task? watching = null;
        using var stopWatching = new CancellationTokenSource();
        var history = new ConcurrentQueue<(long Version, long Steps, long Samples)>();
        try
        {
            // Ingress, scorer and serving in one node; batches not stored within 8 s are sent again.
            front = await StartNodeAsync(Settings(["ingress", "scorer", "serving"], [model], kafka.BootstrapServers, redis.Endpoint,
                redeliverAfterSeconds: 8), log, "front");
            var frontCluster = AkkaCluster.Get(front.System);
            victim = StartNodeProcess([model], ["trainer"], redis.Endpoint, AddressOf(front), folder, log, "victim");
            await WaitUntilAsync(() => UpMembers(front) == 2, TimeSpan.FromSeconds(60), () => "the trainer process to join");
            string victimAddress = frontCluster.State.Members.Single(m => m.HasRole("trainer")).Address.ToString();
            log.Write($"victim trainer process {victim.Id} at {victimAddress}");

            var db = redis.Admin.GetDatabase();
            watching = WatchLatestAsync(db, ModelId, history, stopWatching.Token);
            producing = Task.Run(() => ProduceSteadily(kafka.BootstrapServers, 8, log, stopProducing.Token, "f-"));

            // The victim trains and stores a few snapshots; only then does the second trainer join, so
            // the model (one shard) stays where it is until the kill.
            using var http = Http(front);
            await WaitUntilAsync(async () => await TrainingNodeAsync(http) == victimAddress && Latest(history)?.Version >= 2,
                TimeSpan.FromSeconds(90), () => $"the victim to train and store 2 snapshots (latest {Latest(history)})");
            survivor = await StartNodeAsync(Settings(["trainer"], [model], redis: redis.Endpoint, seeds: [AddressOf(front)]), log, "survivor");
            await WaitUntilAsync(() => UpMembers(front) == 3, TimeSpan.FromSeconds(30), () => "the second trainer to join");
            string survivorAddress = AddressOf(survivor);
            // The victim goes on storing snapshots with the second trainer up: the model (one shard) stayed put.
            long joinedAt = Latest(history)!.Value.Version;
            await WaitUntilAsync(() => Latest(history)?.Version >= joinedAt + 2, TimeSpan.FromSeconds(60),
                () => $"two more snapshots after the second trainer joined (from v{joinedAt}; latest {Latest(history)})");
            Assert.Equal(victimAddress, await TrainingNodeAsync(http));

            var before = Latest(history)!.Value;
            long acceptedBefore = front.Consumer!.Accepted;
            int resendsBefore = log.Count(Resent);
            victim.Kill(entireProcessTree: true);
            await victim.WaitForExitAsync();
            var killedAt = Stopwatch.StartNew();
            log.Write($"killed the victim at snapshot v{before.Version} (steps {before.Steps}, samples {before.Samples}), {acceptedBefore} pairs accepted");

            // The survivor hosts the model, resumed from Redis: its counters start from the stored ones.
            long firstSteps = -1;
            await WaitUntilAsync(async () =>
            {
                var t = await TrainingAsync(http);
                if (t is not { } training || training.GetProperty("node").GetString() != survivorAddress) return false;
                if (firstSteps < 0) firstSteps = training.GetProperty("steps").GetInt64();
                return true;
            }, TimeSpan.FromSeconds(60), () => $"the model to move to {survivorAddress}");
            log.Write($"model on the survivor {killedAt.Elapsed.TotalSeconds:F1} s after the kill, first status at step {firstSteps}");
            Assert.True(firstSteps >= before.Steps, $"the survivor started at step {firstSteps}, below the stored {before.Steps}: it did not resume");
            await WaitUntilAsync(() => Latest(history)?.Version > before.Version + 1, TimeSpan.FromSeconds(60),
                () => $"the survivor to publish snapshots after v{before.Version} (latest {Latest(history)})");
            var after = Latest(history)!.Value;
            Assert.True(after.Steps > before.Steps && after.Samples > before.Samples,
                $"after the takeover v{after.Version} has steps {after.Steps}, samples {after.Samples}; before: steps {before.Steps}, samples {before.Samples}");

            // Some more load on the survivor, then every produced pair must end up committed: reflected in
            // a stored snapshot, including those the victim trained but never stored.
            long acceptedAfter = front.Consumer!.Accepted;
            await WaitUntilAsync(() => front.Consumer!.Accepted >= acceptedAfter + 30 && Latest(history)?.Version > after.Version + 1,
                TimeSpan.FromSeconds(60), () => $"30 more pairs and two more snapshots on the survivor (have {front.Consumer!.Accepted - acceptedAfter}, latest {Latest(history)})");
            stopProducing.Cancel();
            long produced = await producing;
            log.Write($"produced {produced} pairs");
            Assert.Equal(produced, EndOffsets(kafka).Values.Sum());
            await WaitForAllCommittedAsync(kafka, front.Consumer, TimeSpan.FromSeconds(90));
            Assert.Equal(produced, front.Consumer.Accepted);
            log.Write($"all {produced} pairs committed {killedAt.Elapsed.TotalSeconds:F1} s after the kill; " +
                      $"{log.Count(Resent) - resendsBefore} redelivery rounds since");
            // What the victim held unstored (and what was sent its way while it was being declared dead) came
            // back through the ingest node's redelivery, not through Kafka: the consumer never re-read anything.
            Assert.True(log.Count(Resent) > resendsBefore, "the ingest node re-sent nothing after the kill");

            // Counters never went back, across both trainers (the watcher has caught up with the store's latest).
            long storedLatest = (long)await db.HashGetAsync($"cad:model:{ModelId}:latest", "version");
            await WaitUntilAsync(() => Latest(history)?.Version == storedLatest, TimeSpan.FromSeconds(10),
                () => $"the watcher to see v{storedLatest} (latest {Latest(history)})");
            var seen = history.ToArray();
            for (int i = 1; i < seen.Length; i++)
            {
                Assert.True(seen[i].Version > seen[i - 1].Version, $"version went from {seen[i - 1].Version} to {seen[i].Version}");
                Assert.True(seen[i].Steps >= seen[i - 1].Steps && seen[i].Samples >= seen[i - 1].Samples,
                    $"counters went back from v{seen[i - 1].Version} ({seen[i - 1].Steps} steps, {seen[i - 1].Samples} samples) " +
                    $"to v{seen[i].Version} ({seen[i].Steps} steps, {seen[i].Samples} samples)");
            }
            // The serving stage followed the takeover.
            await WaitUntilAsync(async () => (await ModelEntryAsync(http, ModelId))?.GetProperty("snapshotVersion") is { ValueKind: JsonValueKind.Number } v
                    && v.GetInt64() > before.Version, TimeSpan.FromSeconds(30), () => "the serving stage to load a snapshot of the survivor");
            Assert.True(await SampleOneAsync(http, ModelId) > before.Version);
        }
        finally
        {
            stopProducing.Cancel();
            if (producing is not null) await producing.ContinueWith(_ => { });
            stopWatching.Cancel();
            if (watching is not null) await watching.ContinueWith(_ => { });
            if (victim is { HasExited: false }) victim.Kill(entireProcessTree: true);
            victim?.Dispose();
            // Ingress first, then the trainer stores its final snapshot.
            await StopAllAsync(log, survivor, front);
            await redis.DisposeAsync();
            Directory.Delete(folder, recursive: true);
        }
    }

    static (long Version, long Steps, long Samples)? Latest(ConcurrentQueue<(long Version, long Steps, long Samples)> history) =>
        history.IsEmpty ? null : history.Last();
}
