using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using CadStream.Actors.Training;
using CadStream.Host.Cluster;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Records;
using CadStream.Tests.Snapshots.Redis;
using Confluent.Kafka;
using Xunit.Abstractions;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;
using AkkaCluster = Akka.Cluster.Cluster;
using CadStream.Catalog;

namespace CadStream.Tests.Host.Cluster;

/// <summary>
/// Nodes that join a running system and then go away, as users do it: `cadstream node` processes
/// joined from the command line, killed outright (SIGKILL) or stopped (SIGTERM). The seed node
/// carries on, models resume from the store, and, proven by a ledger of the pair ids each stored
/// snapshot reflects, no offset is ever committed before its pair is in a stored snapshot.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class NodeLossTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_joined_trainer_process_killed_leaves_the_seed_running_its_model_resumes_there_and_the_other_model_never_stops()
    {
        var log = new TestLog(output);
        var (idA, idB) = ModelsOnDifferentShards("seed-cad", "seed-base");
        ModelSpec[] models = [TinyModel(idA), TinyModel(idB) with { Mode = TrainingMode.Baseline }];
        var redis = new RedisServer();
        await redis.InitializeAsync();
        var folder = TempFolder("seed-loss");
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 2 });
        CadStreamNode? seed = null;
        Process? joined = null;
        using var stop = new CancellationTokenSource();
        Task<long>? producing = null;
        var latest = models.ToDictionary(m => m.Id, _ => new ConcurrentQueue<(long Version, long Steps, long Samples)>());
        var watching = new List<Task>();
        try
        {
            // The demo's layout: one node with every role, the cluster's seed.
            seed = await StartNodeAsync(Settings(["ingress", "scorer", "trainer", "serving"], models, kafka.BootstrapServers, redis.Endpoint), log, "seed");
            using var http = Http(seed);
            foreach (var m in models) watching.Add(WatchLatestAsync(redis.Admin.GetDatabase(), m.Id, latest[m.Id], stop.Token));
            producing = Task.Run(() => ProduceSteadily(kafka.BootstrapServers, 10, log, stop.Token, "s-"));
            await WaitUntilAsync(() => models.All(m => latest[m.Id].LastOrDefault().Version >= 1), TimeSpan.FromSeconds(90),
                () => "a stored snapshot of each model");

            // A user adds a trainer from the command line; the shards rebalance and one model moves to it.
            joined = StartNodeProcess(models, ["trainer"], redis.Endpoint, AddressOf(seed), folder, log, "joined");
            await WaitUntilAsync(() => UpMembers(seed) == 2, TimeSpan.FromSeconds(60), () => "the trainer process to join");
            string joinedAddress = AkkaCluster.Get(seed.System).State.Members.Single(m => m.Address != AkkaCluster.Get(seed.System).SelfAddress).Address.ToString();
            string seedAddress = AddressOf(seed);
            string? moved = null;
            await WaitUntilAsync(async () =>
            {
                foreach (var m in models)
                    if (await TrainingNodeAsync(http, m.Id) == joinedAddress) moved = m.Id;
                return moved is not null && latest[moved].LastOrDefault().Steps > 0;
            }, TimeSpan.FromSeconds(90), () => "a model to move to the joined trainer");
            string other = models.Single(m => m.Id != moved).Id;
            // The moved model stores at least once on the joined node before it dies.
            long versionAtMove = latest[moved!].Last().Version;
            await WaitUntilAsync(() => latest[moved!].Last().Version > versionAtMove, TimeSpan.FromSeconds(60),
                () => $"{moved} to store a snapshot on the joined node");
            var stored = latest[moved!].Last();
            log.Write($"{moved} trains on {joinedAddress}, stored v{stored.Version} at step {stored.Steps}; {other} stays on the seed");

            // The other model's steps, every 2 s, from the kill on.
            var otherSteps = new List<long> { await StepsAsync(http, other) };
            joined.Kill(entireProcessTree: true);
            await joined.WaitForExitAsync();
            var clock = Stopwatch.StartNew();
            log.Write("killed the joined trainer process");

            long resumedAt = -1;
            while (clock.Elapsed < TimeSpan.FromSeconds(120))
            {
                await Task.Delay(TimeSpan.FromSeconds(2));
                otherSteps.Add(await StepsAsync(http, other));
                if (resumedAt < 0 && await TrainingAsync(http, moved!) is { } t && t.GetProperty("node").GetString() == seedAddress)
                {
                    resumedAt = t.GetProperty("steps").GetInt64();
                    log.Write($"{moved} back on the seed {clock.Elapsed.TotalSeconds:F1} s after the kill, at step {resumedAt}");
                }
                if (resumedAt >= 0 && latest[moved!].Last().Version > stored.Version && otherSteps.Count >= 8) break;
            }
            log.Write($"{other} steps every 2 s after the kill: {string.Join(", ", otherSteps)}");
            Assert.True(resumedAt >= 0, $"{moved} did not come back to the seed within 120 s");
            Assert.True(resumedAt >= stored.Steps, $"{moved} restarted at step {resumedAt}, below its stored {stored.Steps}");
            Assert.True(latest[moved!].Last().Version > stored.Version, $"{moved} stored nothing after the kill");
            // The other model never waits for the failover: on 2 busy cores one 2 s reading can show no new step (the seed
            // is re-creating the moved trainer, or the node's status ask went unanswered once), but waiting for the dead
            // node to be downed and removed (failure detection, then 3 s stable-after and a 3 s removal margin) would show
            // as 9 s or more without a step: 3 readings in a row without one (6 s) are allowed, 4 fail.
            int still = 0;
            for (int i = 1; i < otherSteps.Count; i++)
            {
                still = otherSteps[i] > otherSteps[i - 1] ? 0 : still + 1;
                Assert.True(still < 4, $"{other} stalled for {2 * still} s after the kill: {string.Join(", ", otherSteps)}");
            }
            Assert.True(otherSteps[^1] > otherSteps[0], $"{other} did not train after the kill: {string.Join(", ", otherSteps)}");

            // The seed was not downed: it is the one member left, healthy, and still ingesting.
            Assert.False(seed.Exited.IsCompleted, "the seed node's actor system ended");
            await WaitUntilAsync(() => AkkaCluster.Get(seed.System).State.Members.Count == 1 && UpMembers(seed) == 1, TimeSpan.FromSeconds(30),
                () => "the dead node removed from the membership");
            await WaitUntilAsync(async () => (await http.GetAsync("/healthz")).IsSuccessStatusCode, TimeSpan.FromSeconds(30), () => "/healthz 200");
            stop.Cancel();
            long produced = await producing;
            await WaitForAllCommittedAsync(kafka, seed.Consumer!, TimeSpan.FromSeconds(120));
            Assert.Equal(produced, seed.Consumer!.Accepted);
            log.Write($"all {produced} pairs committed on the seed");
        }
        finally
        {
            stop.Cancel();
            if (producing is not null) await producing.ContinueWith(_ => { });
            await Task.WhenAll(watching).ContinueWith(_ => { });
            if (joined is { HasExited: false }) joined.Kill(entireProcessTree: true);
            joined?.Dispose();
            await StopAllAsync(log, seed);
            await redis.DisposeAsync();
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task An_ingress_process_killed_mid_stream_hands_its_partitions_over_and_no_offset_commits_before_its_pair_is_stored() =>
        await IngressLeavesAsync(kill: true);

    [Fact]
    public async Task An_ingress_process_that_leaves_its_group_loses_nothing() =>
        await IngressLeavesAsync(kill: false);

    /// <summary>
    /// Two ingress consumers in one group, the second a process that dies (SIGKILL) or stops (SIGTERM)
    /// mid-stream. A ledger records, from the trainer, when each pair id first went into a stored
    /// snapshot; a watcher reads the group's commits from the broker. Every commit it ever saw must lie
    /// behind pairs already in the ledger, every produced id must end up there, and pairs trained twice
    /// are bounded by what the departed consumer had read past its last commit.
    /// </summary>
    async Task IngressLeavesAsync(bool kill)
    {
        var log = new TestLog(output);
        const string modelId = "lineage-cad";
        var model = TinyModel(modelId) with { ReplayFraction = 0 };
        var redis = new RedisServer();
        await redis.InitializeAsync();
        var folder = TempFolder("ingress-loss");
        using var kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 2 });
        CadStreamNode? seed = null;
        Process? second = null;
        using var stop = new CancellationTokenSource();
        Task<long>? producing = null;
        Task? auditing = null;
        var clock = Stopwatch.StartNew();
        // Pair id -> times it went into a stored snapshot, and when first.
        var storedCount = new ConcurrentDictionary<string, int>();
        var firstStored = new ConcurrentDictionary<string, TimeSpan>();
        var commits = new ConcurrentQueue<(TimeSpan SeenBy, int Partition, long Offset)>();
        try
        {
            seed = await StartNodeAsync(Settings(["ingress", "scorer", "trainer", "serving"], [model], kafka.BootstrapServers, redis.Endpoint),
                log, "seed", stored =>
                {
                    var at = clock.Elapsed;
                    foreach (var id in stored.PairIds)
                    {
                        storedCount.AddOrUpdate(id, 1, (_, n) => n + 1);
                        firstStored.TryAdd(id, at);
                    }
                });
            second = StartNodeProcess([model], ["ingress", "scorer"], redis.Endpoint, AddressOf(seed), folder, log, "second", kafka.BootstrapServers);
            await WaitUntilAsync(() => UpMembers(seed) == 2, TimeSpan.FromSeconds(60), () => "the second ingress node to join");
            // The group rebalances: one partition each.
            await WaitUntilAsync(() => seed.Consumer?.Assignment.Count == 1, TimeSpan.FromSeconds(60),
                () => $"the partitions split between the two consumers (seed has {seed.Consumer?.Assignment.Count})");
            int secondsPartition = 1 - seed.Consumer!.Assignment[0].Partition.Value;
            auditing = AuditCommitsAsync(kafka, commits, clock, stop.Token);
            producing = Task.Run(() => ProduceSteadily(kafka.BootstrapServers, 20, log, stop.Token, "i-"));

            // The second node's partition gets commits (its pairs trained on the seed, acknowledged across nodes).
            await WaitUntilAsync(() => commits.Any(c => c.Partition == secondsPartition && c.Offset >= 40), TimeSpan.FromSeconds(90),
                () => $"commits on partition {secondsPartition} through the second node");
            long committedAtLeave = commits.Where(c => c.Partition == secondsPartition).Max(c => c.Offset);
            long endAtLeave = EndOffsets(kafka)[secondsPartition];
            if (kill) second.Kill(entireProcessTree: true);
            else Process.Start("kill", ["-TERM", second.Id.ToString()])!.WaitForExit();
            await second.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            log.Write($"second node {(kill ? "killed" : "stopped")} (exit {second.ExitCode}) with partition {secondsPartition} committed to {committedAtLeave}, end {endAtLeave}");
            if (!kill) Assert.Equal(0, second.ExitCode);

            // The seed's consumer takes both partitions.
            await WaitUntilAsync(() => seed.Consumer?.Assignment.Count == 2, TimeSpan.FromSeconds(60),
                () => "the seed's consumer to take over the second partition");
            // More load after the take-over: the seed reads 40 more pairs before the producer stops.
            long acceptedAtTakeOver = seed.Consumer!.Accepted;
            await WaitUntilAsync(() => seed.Consumer!.Accepted >= acceptedAtTakeOver + 40, TimeSpan.FromSeconds(60),
                () => $"40 more pairs through the seed (have {seed.Consumer!.Accepted - acceptedAtTakeOver})");
            stop.Cancel();
            long produced = await producing;
            await WaitForAllCommittedAsync(kafka, seed.Consumer!, TimeSpan.FromSeconds(120));
            await auditing;

            var ids = RecordIds(kafka);
            Assert.Equal(produced, ids.Count);
            // Every produced pair is in a stored snapshot.
            var missing = ids.Values.Where(id => !storedCount.ContainsKey(id)).ToList();
            Assert.True(missing.Count == 0, $"{missing.Count} pairs never stored, e.g. {string.Join(", ", missing.Take(5))}");
            // No commit ever ran ahead of the ledger: each one the watcher saw covered only pairs stored before it saw it.
            int checkedCommits = 0;
            foreach (var (seenBy, partition, offset) in commits)
            {
                for (long o = 0; o < offset; o++)
                {
                    var id = ids[(partition, o)];
                    Assert.True(firstStored.TryGetValue(id, out var at) && at <= seenBy,
                        $"partition {partition} committed to {offset} (seen at {seenBy.TotalSeconds:F2} s) before pair {id} at offset {o} was stored" +
                        (firstStored.TryGetValue(id, out var later) ? $" (stored at {later.TotalSeconds:F2} s)" : " (never)"));
                }
                checkedCommits++;
            }
            int duplicates = storedCount.Values.Sum(n => n - 1);
            long bound = endAtLeave - committedAtLeave + 20 * 5;  // what the leaver had read past its commit, plus the few seconds' stream until it died
            log.Write($"{produced} pairs, {checkedCommits} commits audited, {duplicates} trained twice (bound {bound})");
            Assert.InRange(duplicates, 0, bound);
        }
        finally
        {
            stop.Cancel();
            if (producing is not null) await producing.ContinueWith(_ => { });
            if (auditing is not null) await auditing.ContinueWith(_ => { });
            if (second is { HasExited: false }) second.Kill(entireProcessTree: true);
            second?.Dispose();
            await StopAllAsync(log, seed);
            await redis.DisposeAsync();
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Reads the group's committed offsets from the broker every 200 ms; each reading is timed when it returned.</summary>
    static async Task AuditCommitsAsync(EmbeddedKafka kafka, ConcurrentQueue<(TimeSpan, int, long)> commits, Stopwatch clock, CancellationToken stop)
    {
        var last = new Dictionary<int, long>();
        // One final reading after the stream stopped, so the last commits are audited too.
        for (bool final = false; ; )
        {
            foreach (var (p, o) in GroupCommitted(kafka))
                if (o > 0 && last.GetValueOrDefault(p) != o)
                {
                    last[p] = o;
                    commits.Enqueue((clock.Elapsed, p, o));
                }
            if (final) return;
            try { await Task.Delay(200, stop); }
            catch (OperationCanceledException) { }
            if (stop.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
                final = true;
            }
        }
    }

    /// <summary>(partition, offset) -> pair id of every record in cad.pairs.</summary>
    static Dictionary<(int, long), string> RecordIds(EmbeddedKafka kafka)
    {
        var end = EndOffsets(kafka);
        using var c = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = "test-ledger", EnableAutoCommit = false })
            .SetLogHandler((_, _) => { }).Build();
        c.Assign(end.Keys.Select(p => new TopicPartitionOffset(IngressTopics.Pairs, new Partition(p), Offset.Beginning)));
        var ids = new Dictionary<(int, long), string>();
        var deadline = Stopwatch.StartNew();
        while (ids.Count < end.Values.Sum() && deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            var r = c.Consume(TimeSpan.FromMilliseconds(500));
            if (r?.Message is null) continue;
            var pair = PairRecords.FromJson(r.Message.Value, out var reason) ?? throw new InvalidOperationException(reason);
            ids[(r.Partition.Value, r.Offset.Value)] = pair.Id;
        }
        return ids;
    }

    /// <summary>Two model ids whose trainers land on different shards, so the rebalance can move one.</summary>
    static (string, string) ModelsOnDifferentShards(string a, string b)
    {
        var extractor = new TrainerMessageExtractor();
        string Shard(string id) => extractor.ShardId(new GetTrainerStatus(id))!;
        for (int i = 0; ; i++)
            if (Shard(a) != Shard($"{b}{(i == 0 ? "" : i)}")) return (a, $"{b}{(i == 0 ? "" : i)}");
    }
}
