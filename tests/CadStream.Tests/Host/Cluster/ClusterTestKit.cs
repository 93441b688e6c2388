using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using CadStream.Actors;
using CadStream.Catalog;
using CadStream.Host.Cluster;
using CadStream.Host.Configuration;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Ingress.Producing;
using CadStream.Records;
using CadStream.Scoring;
using CadStream.Serving;
using CadStream.Tests.Model;
using Confluent.Kafka;
using Xunit.Abstractions;
using AkkaCluster = Akka.Cluster.Cluster;

namespace CadStream.Tests.Host.Cluster;

/// <summary>
/// Tests that start CadStream nodes share this collection: they run one after the other and after
/// the parallel tests, since each starts actor systems, a broker and training threads on few cores.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClusterCollection
{
    public const string Name = "Cluster";
}

/// <summary>Tiny settings, nodes, pairs and waits for the streaming-engine tests.</summary>
public static class ClusterTestKit
{
    /// <summary>A model small enough to step in tens of milliseconds on a busy CPU, snapshotting often.</summary>
    public static ModelSpec TinyModel(string id) => TestModels.Fashion(id) with
    {
        Mode = TrainingMode.Cad,
        Width = 16,
        Batch = 16,
        LearningRate = 1e-3,
        WarmupSteps = 10,
        SnapshotEverySteps = 5,
        SnapshotEverySeconds = 2,
        ReplaySize = 256,
        ReplayFraction = 0.5,
    };

    /// <summary>Restarts in well under a second and unhealthy after two failures: a failing part's whole story fits in a test.</summary>
    public static readonly CadStream.Runtime.RestartPolicy FastRestarts = new()
    {
        MinBackoff = TimeSpan.FromMilliseconds(200),
        MaxBackoff = TimeSpan.FromSeconds(1),
        FailuresBeforeUnhealthy = 2,
    };

    /// <summary>One node's settings: remoting and HTTP on free ports, a folder store unless Redis is named.</summary>
    public static CadStreamSettings Settings(string[] roles, IEnumerable<ModelSpec> models, string kafka = "",
        string? redis = null, string? folder = null, string[]? seeds = null, double redeliverAfterSeconds = 90) => new()
    {
        Node = new NodeSettings
        {
            Roles = roles,
            Port = 0,
            SeedNodes = seeds ?? [],
            RedeliverAfterSeconds = redeliverAfterSeconds,
            MaxInFlightPairs = 4096,
        },
        Kafka = new KafkaSettings { Bootstrap = kafka },
        Redis = new RedisSettings { Endpoint = redis ?? "" },
        Snapshots = new SnapshotSettings { Folder = folder ?? "", Keep = 3 },
        Http = new HttpSettings { Url = "http://127.0.0.1:0" },
        Scoring = new ScoringOptions { PoolSize = 1 },
        Serving = new ServingOptions { DefaultSteps = 4, SnapshotPollInterval = TimeSpan.FromSeconds(1) },
        Models = models.ToList(),
    };

    public static Task<CadStreamNode> StartNodeAsync(CadStreamSettings settings, TestLog log, string name,
        Action<CadStream.Actors.Training.PairsStored>? pairsStored = null) =>
        CadStreamNode.StartAsync(settings, new LineLoggerProvider(line => log.Write($"[{name}] {line}")), CancellationToken.None, pairsStored);

    public static string AddressOf(CadStreamNode node) => AkkaCluster.Get(node.System).SelfAddress.ToString();

    public static int UpMembers(CadStreamNode node) =>
        AkkaCluster.Get(node.System).State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up);

    public static HttpClient Http(CadStreamNode node) => new() { BaseAddress = new Uri(node.HttpUrl), Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>28x28 grey pixels with a seeded pattern (raw bytes, no PNG encoding needed).</summary>
    public static byte[] Pixels(int seed)
    {
        var p = new byte[28 * 28];
        new Random(seed).NextBytes(p);
        return p;
    }

    /// <summary>A valid pair for every class model: raw 28x28 grey pixels, label, coherence.</summary>
    public static PairRecord Pair(string id, int seed, string? model = null) => new()
    {
        Id = id,
        Model = model,
        ImageU8 = Pixels(seed),
        Width = 28,
        Height = 28,
        Channels = 1,
        Label = seed % 10,
        Coherence = 0.25 + 0.75 * (seed % 4) / 3.0,
    };

    /// <summary>Per partition of cad.pairs: the high watermark (offset of the next record to be written).</summary>
    public static Dictionary<int, long> EndOffsets(EmbeddedKafka kafka)
    {
        using var c = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = "test-watermarks" })
            .SetLogHandler((_, _) => { }).Build();
        return Enumerable.Range(0, kafka.Options.Partitions).ToDictionary(p => p,
            p => c.QueryWatermarkOffsets(new TopicPartition(IngressTopics.Pairs, new Partition(p)), TimeSpan.FromSeconds(10)).High.Value);
    }

    /// <summary>Per partition: what the cadstream-ingress group committed, as the broker reports it to any client (-1001 = nothing).</summary>
    public static Dictionary<int, long> GroupCommitted(EmbeddedKafka kafka)
    {
        using var c = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = IngressTopics.ConsumerGroup,
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build();
        var parts = Enumerable.Range(0, kafka.Options.Partitions).Select(p => new TopicPartition(IngressTopics.Pairs, new Partition(p))).ToList();
        return c.Committed(parts, TimeSpan.FromSeconds(10)).ToDictionary(o => o.Partition.Value, o => o.Offset.Value);
    }

    /// <summary>Waits until the ingress group has committed every record of cad.pairs (nothing left unreflected).</summary>
    public static async Task WaitForAllCommittedAsync(EmbeddedKafka kafka, PairConsumer consumer, TimeSpan timeout)
    {
        var end = EndOffsets(kafka);
        await WaitUntilAsync(() => end.All(e => e.Value == 0 || consumer.CommittedOffsets.GetValueOrDefault(
            new TopicPartition(IngressTopics.Pairs, new Partition(e.Key)), -1) == e.Value), timeout,
            () => $"commits to reach the end offsets {Show(end)}; committed {Show(consumer.CommittedOffsets.ToDictionary(kv => kv.Key.Partition.Value, kv => kv.Value))}, in flight {consumer.InFlight}");
        var broker = GroupCommitted(kafka);
        foreach (var (p, high) in end.Where(e => e.Value > 0))
            Assert.True(broker[p] == high, $"partition {p}: the broker has commit {broker[p]}, the end is {high}");
    }

    public static string Show<T>(IReadOnlyDictionary<int, T> d) => string.Join(", ", d.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}:{kv.Value}"));

    public static async Task<JsonElement> GetJsonAsync(HttpClient http, string path)
    {
        using var r = await http.GetAsync(path);
        Assert.True(r.IsSuccessStatusCode, $"GET {path}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        return doc.RootElement.Clone();
    }

    /// <summary>The model's entry of GET /v1/models, or null.</summary>
    public static async Task<JsonElement?> ModelEntryAsync(HttpClient http, string modelId)
    {
        var models = await GetJsonAsync(http, "/v1/models");
        foreach (var m in models.EnumerateArray())
            if (m.GetProperty("id").GetString() == modelId) return m;
        return null;
    }

    /// <summary>The model's <c>training</c> object in GET /v1/status (null while no trainer holds it); with no id, the first model's.</summary>
    public static async Task<JsonElement?> TrainingAsync(HttpClient http, string? modelId = null)
    {
        var status = await GetJsonAsync(http, "/v1/status");
        foreach (var m in status.GetProperty("models").EnumerateArray())
            if (modelId is null || m.GetProperty("id").GetString() == modelId)
                return m.GetProperty("training") is { ValueKind: JsonValueKind.Object } t ? t : null;
        return null;
    }

    /// <summary>The cluster address of the node training the model (null while none does).</summary>
    public static async Task<string?> TrainingNodeAsync(HttpClient http, string? modelId = null) =>
        (await TrainingAsync(http, modelId))?.GetProperty("node").GetString();

    /// <summary>The model's trained steps (-1 while no trainer holds it).</summary>
    public static async Task<long> StepsAsync(HttpClient http, string modelId) =>
        (await TrainingAsync(http, modelId))?.GetProperty("steps").GetInt64() ?? -1;

    /// <summary>POST /v1/models/{id}/samples as JSON; asserts 200 and one decodable PNG; returns the snapshot version it came from.</summary>
    public static async Task<long> SampleOneAsync(HttpClient http, string modelId)
    {
        using var r = await http.PostAsync($"/v1/models/{modelId}/samples",
            new StringContent("""{"label": "Sneaker", "coherence": 0.9, "steps": 3, "seed": 5, "count": 1, "format": "json"}""",
                System.Text.Encoding.UTF8, "application/json"));
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, $"sampling {modelId}: {(int)r.StatusCode} {body}");
        using var doc = JsonDocument.Parse(body);
        var png = Convert.FromBase64String(Assert.Single(doc.RootElement.GetProperty("images").EnumerateArray()).GetString()!);
        using var bitmap = SkiaSharp.SKBitmap.Decode(png);
        Assert.NotNull(bitmap);
        Assert.Equal(28, bitmap.Width);
        return doc.RootElement.GetProperty("snapshotVersion").GetInt64();
    }

    /// <summary>Streams valid pairs (ids <paramref name="prefix"/>0, 1, ...) at a steady rate until cancelled; returns how many the broker acknowledged.</summary>
    public static long ProduceSteadily(string bootstrap, double perSecond, TestLog log, CancellationToken cancel, string prefix)
    {
        using var producer = new PairProducer(bootstrap, IngressTopics.Pairs, PairFormat.Json);
        var clock = Stopwatch.StartNew();
        int i = 0;
        while (!cancel.IsCancellationRequested)
        {
            producer.Produce(Pair($"{prefix}{i}", i));
            i++;
            var due = TimeSpan.FromSeconds(i / perSecond) - clock.Elapsed;
            if (due > TimeSpan.Zero) cancel.WaitHandle.WaitOne(due);
        }
        int left = producer.Flush(TimeSpan.FromSeconds(15));
        Assert.Equal(0, left);
        Assert.Equal(0, producer.Failed);
        log.Write($"producer: {producer.Delivered} delivered");
        return producer.Delivered;
    }

    /// <summary>
    /// Records every new cad:model:{id}:latest (version, steps, samples) the test sees, polling Redis directly;
    /// rides out Redis outages (the poll just fails until the server is back).
    /// </summary>
    public static async Task WatchLatestAsync(StackExchange.Redis.IDatabase db, string modelId, ConcurrentQueue<(long Version, long Steps, long Samples)> history,
        CancellationToken cancel)
    {
        long last = 0;
        while (!cancel.IsCancellationRequested)
        {
            try
            {
                var fields = (await db.HashGetAllAsync($"cad:model:{modelId}:latest")).ToDictionary(f => f.Name.ToString(), f => f.Value);
                if (fields.TryGetValue("version", out var v) && (long)v != last)
                {
                    last = (long)v;
                    history.Enqueue(((long)v, (long)fields["steps"], (long)fields["samples"]));
                }
            }
            catch (StackExchange.Redis.RedisException) { }
            catch (TimeoutException) { }
            try { await Task.Delay(100, cancel); } catch (OperationCanceledException) { }
        }
    }

    /// <summary>A counter or gauge of the node's /metrics for one model (0 when absent).</summary>
    public static async Task<double> MetricAsync(HttpClient http, string name, string modelId)
    {
        var text = await http.GetStringAsync("/metrics");
        foreach (var line in text.Split('\n'))
            if (line.StartsWith(name + "{", StringComparison.Ordinal) && line.Contains($"model=\"{modelId}\"", StringComparison.Ordinal))
                return double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        return 0;
    }

    /// <summary>
    /// `cadstream node` as its own process (a real process, so a test can kill it outright), joining the test's
    /// cluster at <paramref name="seed"/> (null: founding its own) with the given roles and models, its snapshots in
    /// <paramref name="redis"/> (null: in a folder under <paramref name="folder"/>); its output goes to the test log.
    /// </summary>
    public static Process StartNodeProcess(IEnumerable<ModelSpec> models, string[] roles, string? redis, string? seed, string folder, TestLog log,
        string name, string kafka = "", int? httpPort = null)
    {
        var config = Path.Combine(folder, $"{name}.json");
        File.WriteAllText(config, JsonSerializer.Serialize(new
        {
            Node = new { Roles = roles, Port = 0 },
            Snapshots = new { Folder = Path.Combine(folder, $"{name}-snapshots") },
            Scoring = new { PoolSize = 1 },
            Models = models.Select(model => new
            {
                model.Id, model.Kind, model.Dataset, model.Mode, model.Width, model.LearningRate, model.Batch, model.EmaDecay,
                model.WarmupSteps, model.SnapshotEverySteps, model.SnapshotEverySeconds, model.ReplaySize, model.ReplayFraction,
                model.Guidance, model.Seed,
            }).ToArray(),
        }));
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "cadstream.dll"));
        var args = new List<string> { "node", "--config", config, "--roles", string.Join(',', roles), "--port", "0",
            "--http", $"127.0.0.1:{httpPort ?? FreePort()}", "--duration", "5m" };  // ends by itself should the test host die
        if (seed is not null) args.AddRange(["--seed", seed]);
        if (redis is not null) args.AddRange(["--redis", redis]);
        if (kafka.Length > 0) args.AddRange(["--kafka", kafka]);
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) log.Write($"[{name}] {e.Data}"); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) log.Write($"[{name}] {e.Data}"); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>Pipes one record per line into the pairs topic through kcat, as a user would, and waits for kcat to finish.</summary>
    public static async Task KcatProduceAsync(string bootstrap, IEnumerable<string> lines)
    {
        var psi = new ProcessStartInfo("kcat") { RedirectStandardInput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-P", "-b", bootstrap, "-t", IngressTopics.Pairs }) psi.ArgumentList.Add(a);
        using var kcat = Process.Start(psi)!;
        var stderr = kcat.StandardError.ReadToEndAsync();
        foreach (var line in lines) await kcat.StandardInput.WriteLineAsync(line);
        kcat.StandardInput.Close();
        Assert.True(kcat.WaitForExit(30_000), "kcat did not finish in 30 s");
        Assert.True(kcat.ExitCode == 0, $"kcat failed: {await stderr}");
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public static string TempFolder(string name) => Directory.CreateTempSubdirectory($"cadstream-{name}-").FullName;

    /// <summary>Stops nodes one by one (last started first), logging how long each took.</summary>
    public static async Task StopAllAsync(TestLog log, params CadStreamNode?[] nodes)
    {
        foreach (var n in nodes.Reverse())
        {
            if (n is null) continue;
            var clock = Stopwatch.StartNew();
            await n.DisposeAsync();
            log.Write($"node stopped in {clock.Elapsed.TotalSeconds:F1} s");
        }
    }
}

/// <summary>Timestamped lines to the test output, kept for assertions; safe after the test ended.</summary>
public sealed class TestLog(ITestOutputHelper output)
{
    private readonly Stopwatch clock = Stopwatch.StartNew();
    public ConcurrentQueue<string> Lines { get; } = new();

    public void Write(string line)
    {
        line = $"{clock.Elapsed.TotalSeconds,7:F2} {line}";
        Lines.Enqueue(line);
        try { output.WriteLine(line); }
        catch (InvalidOperationException) { /* the test is over */ }
    }

    public int Count(string fragment) => Lines.Count(l => l.Contains(fragment, StringComparison.Ordinal));
}
