using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using CadStream.Host.Cluster;
using CadStream.Host.Configuration;
using CadStream.Ingress.Kafka;
using CadStream.Ingress.Producing;
using CadStream.Records;
using CadStream.Tests.Host.Cluster;
using CadStream.Tests.Snapshots.Redis;
using Xunit.Abstractions;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;
using static CadStream.Tests.Ingress.Kafka.KafkaTestKit;
using AkkaCluster = Akka.Cluster.Cluster;

namespace CadStream.Tests.Deploy;

/// <summary>
/// One running node with every role, set up as the compose stack runs its nodes (Redis with a password,
/// an API key, an empty Hostname: advertise this machine's name, listen everywhere) on the embedded broker. It has
/// done each kind of work once, so that prometheus-net prints every labelled metric: pairs accepted and
/// one rejected, training steps, a stored snapshot, one sample request.
/// </summary>
public sealed class LiveNodeFixture : IAsyncLifetime
{
    public const string ModelId = "deploy-cad";
    static readonly string[] AllRoles = ["ingress", "scorer", "trainer", "serving"];

    public ConcurrentQueue<string> Log { get; } = new();
    public EmbeddedKafka Kafka { get; private set; } = null!;
    public RedisServer Redis { get; } = new() { Password = "deploy-" + Guid.NewGuid().ToString("N") };
    public const string ApiKey = "deploy-key-3c9e";
    public CadStreamNode Node { get; private set; } = null!;
    /// <summary>A client that sends the API key.</summary>
    public HttpClient Http { get; private set; } = null!;
    /// <summary>A client without a key, as the health check and Prometheus ask.</summary>
    public HttpClient Anonymous { get; private set; } = null!;
    readonly Stopwatch clock = Stopwatch.StartNew();

    void Write(string line) => Log.Enqueue($"{clock.Elapsed.TotalSeconds,7:F2} {line}");

    public async Task InitializeAsync()
    {
        await Redis.InitializeAsync();
        Kafka = EmbeddedKafka.Start(new EmbeddedKafkaOptions { Partitions = 2 });
        var settings = Settings(AllRoles, [TinyModel(ModelId)], Kafka.BootstrapServers, redis: Redis.Endpoint);
        settings = settings with
        {
            Node = settings.Node with { Hostname = "" },
            Redis = settings.Redis with { Password = Redis.Password! },
            Http = settings.Http with { ApiKeys = [ApiKey] },
            // The clean-label classifier judges the live samples (cad_sample_accuracy).
            Scoring = settings.Scoring with { Classifier = CadStream.Tests.Model.TestClassifier.File },
        };
        Node = await CadStreamNode.StartAsync(settings, new LineLoggerProvider(Write), CancellationToken.None);
        Http = new HttpClient { BaseAddress = new Uri(Node.HttpUrl), Timeout = TimeSpan.FromSeconds(60) };
        Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ApiKey);
        Anonymous = new HttpClient { BaseAddress = new Uri(Node.HttpUrl), Timeout = TimeSpan.FromSeconds(60) };

        using (var producer = RawProducer(Kafka))
        {
            for (int i = 0; i < 48; i++) Send(producer, $"deploy-{i}", PairRecords.ToJson(Pair($"deploy-{i}", i)));
            Send(producer, "deploy-bad", System.Text.Encoding.UTF8.GetBytes("""{"id": "deploy-bad", "label": 3"""));
        }
        await WaitUntilAsync(() => Node.Consumer!.Accepted == 48 && Node.Consumer.Rejected == 1, TimeSpan.FromSeconds(60),
            () => $"48 accepted and 1 rejected pairs (accepted {Node.Consumer!.Accepted}, rejected {Node.Consumer.Rejected})");
        await WaitUntilAsync(async () => await Node.Store.GetLatestAsync(ModelId) is not null, TimeSpan.FromSeconds(90),
            () => "a snapshot in Redis");
        await WaitUntilAsync(async () => (await ModelEntryAsync(Http, ModelId))?.GetProperty("snapshotVersion").ValueKind == JsonValueKind.Number,
            TimeSpan.FromSeconds(30), () => "the serving stage to load the snapshot");
        // The lag gauge is sampled every few seconds: wait for its first values.
        await WaitUntilAsync(() => Node.Consumer!.Lag.Count > 0, TimeSpan.FromSeconds(30), () => "the consumer's first lag figures");
        await SampleOneAsync(Http, ModelId);
        await WaitUntilAsync(async () => (await GetJsonAsync(Http, $"/v1/models/{ModelId}/history")).GetProperty("quality").ValueKind == JsonValueKind.Object,
            TimeSpan.FromSeconds(60), () => "the live sample quality of the loaded snapshot");
        Write("node has ingested, trained, stored a snapshot, answered a sample request and judged its live samples");
    }

    /// <summary>/metrics as Prometheus reads it: without a key.</summary>
    public async Task<string> MetricsAsync() => await Anonymous.GetStringAsync("/metrics");

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        Anonymous?.Dispose();
        if (Node is not null) await Node.DisposeAsync();
        Kafka?.Dispose();
        await Redis.DisposeAsync();
    }
}

/// <summary>
/// The dashboard against a running node: every metric its expressions name is exported there (and is a
/// contract name), and a real Prometheus scraping the node answers every expression with data.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class LiveNodeTests(LiveNodeFixture node, ITestOutputHelper output) : IClassFixture<LiveNodeFixture>, IDisposable
{
    public void Dispose()
    {
        foreach (var line in node.Log) output.WriteLine(line);
    }

    [Fact]
    public async Task Every_metric_in_the_dashboard_is_exported_by_a_running_node_with_the_contracts_type()
    {
        var (series, types) = PromQl.ReadExposition(await node.MetricsAsync());
        foreach (var name in GrafanaDashboard.Load().AllMetricNames())
        {
            var contract = PromQl.BaseName(name);
            Assert.True(PromQl.ContractMetrics.ContainsKey(contract), $"{name} is not a contract metric");
            Assert.True(series.Contains(name), $"the dashboard uses {name}, but the node's /metrics has no such series");
            Assert.Equal(PromQl.ContractMetrics[contract], types.GetValueOrDefault(contract));
        }
        // The node did the work behind each of them itself (not another test in this process).
        var text = await node.MetricsAsync();
        double Value(string series)
        {
            var m = System.Text.RegularExpressions.Regex.Match(text, "^" + System.Text.RegularExpressions.Regex.Escape(series) + @" (\S+)$",
                System.Text.RegularExpressions.RegexOptions.Multiline);
            Assert.True(m.Success, $"no {series} in /metrics");
            return double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        }
        var model = $"model=\"{LiveNodeFixture.ModelId}\"";
        Assert.True(Value($"cad_train_steps_total{{{model}}}") > 0);
        Assert.True(Value($"cad_train_samples_total{{{model}}}") > 0);
        Assert.True(Value($"cad_coherence_count{{{model}}}") > 0);
        Assert.True(Value($"cad_snapshot_publish_seconds_count{{{model}}}") > 0);
        Assert.True(Value($"cad_sample_requests_total{{{model},code=\"200\"}}") >= 1);
        Assert.True(Value($"cad_sample_seconds_count{{{model}}}") >= 1);
    }

    [Fact]
    public async Task On_a_node_with_every_role_each_metric_name_is_registered_once_with_its_documented_type_and_labels()
    {
        var text = await node.MetricsAsync();
        var typeLines = System.Text.RegularExpressions.Regex.Matches(text, @"^# TYPE (cad_\w+) (\w+)$", System.Text.RegularExpressions.RegexOptions.Multiline)
            .Select(m => (Name: m.Groups[1].Value, Type: m.Groups[2].Value)).ToList();
        var twice = typeLines.GroupBy(t => t.Name).Where(g => g.Count() > 1).Select(g => g.Key).ToArray();
        Assert.True(twice.Length == 0, $"registered more than once: {string.Join(", ", twice)}");
        foreach (var m in Docs.InterfacesDoc.Metrics())
        {
            var t = typeLines.SingleOrDefault(t => t.Name == m.Name);
            Assert.True(t.Name is not null, $"{m.Name} is not exported by a node with every role");
            Assert.Equal(m.Type, t.Type);
            // Every sample of it carries exactly the documented labels (plus le on histogram buckets).
            foreach (System.Text.RegularExpressions.Match sample in System.Text.RegularExpressions.Regex.Matches(text,
                         "^" + m.Name + @"(?:_bucket|_sum|_count)?\{([^}]*)\} ", System.Text.RegularExpressions.RegexOptions.Multiline))
            {
                var labels = sample.Groups[1].Value.Split(',').Select(l => l.Split('=')[0]).Where(l => l != "le").ToArray();
                Assert.Equal(m.Labels, labels);
            }
        }
        // The serving node's version and the trainer's newest stored one are separate series.
        Assert.Matches($"cad_serving_snapshot_version{{model=\"{LiveNodeFixture.ModelId}\"}} [1-9]", text);
        Assert.Matches($"cad_snapshot_version{{model=\"{LiveNodeFixture.ModelId}\"}} [1-9]", text);
    }

    [Fact]
    public async Task With_an_api_key_v1_needs_it_and_the_probes_metrics_and_api_description_stay_open()
    {
        foreach (var path in new[] { "/v1/status", "/v1/models", $"/v1/models/{LiveNodeFixture.ModelId}/history" })
        {
            using var refused = await node.Anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Contains("\"error\"", await refused.Content.ReadAsStringAsync());
            using var keyed = await node.Http.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, keyed.StatusCode);
        }
        foreach (var path in new[] { "/", "/healthz", "/readyz", "/metrics", "/openapi/v1.json" })
        {
            using var open = await node.Anonymous.GetAsync(path);
            Assert.True(open.StatusCode == HttpStatusCode.OK, $"{path} answered {(int)open.StatusCode} without a key");
        }
        // The node's own document (a slim-built host with every role) names the key on /v1 and not on the probes.
        var doc = JsonDocument.Parse(await node.Anonymous.GetStringAsync("/openapi/v1.json")).RootElement;
        Assert.StartsWith("3.1.", doc.GetProperty("openapi").GetString());
        var paths = doc.GetProperty("paths");
        Assert.True(paths.GetProperty("/v1/status").GetProperty("get").TryGetProperty("security", out _));
        Assert.False(paths.GetProperty("/healthz").GetProperty("get").TryGetProperty("security", out _));
    }

    [Fact]
    public void The_node_advertises_this_machines_host_name_and_listens_on_every_interface()
    {
        var self = AkkaCluster.Get(node.Node.System).SelfAddress;
        Assert.Equal(Dns.GetHostName(), self.Host);
        Assert.Equal(Akka.Cluster.MemberStatus.Up, AkkaCluster.Get(node.Node.System).SelfMember.Status);
        // Bound to 0.0.0.0: loopback reaches the remoting port although the advertised name is the host name.
        using var tcp = new TcpClient();
        tcp.Connect(IPAddress.Loopback, self.Port!.Value);
        Assert.True(tcp.Connected);
    }

    [Fact]
    public async Task A_real_prometheus_scrapes_the_node_and_answers_every_dashboard_query()
    {
        var exe = MonitoringConfigTests.Tool("prometheus");
        var dir = TempFolder("prometheus");
        var httpPort = new Uri(node.Node.HttpUrl).Port;
        var webPort = FreePort();
        File.WriteAllText(Path.Combine(dir, "prometheus.yml"), $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: cadstream
                metrics_path: /metrics
                static_configs:
                  - targets: ['127.0.0.1:{httpPort}']
            """);
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { $"--config.file={Path.Combine(dir, "prometheus.yml")}", $"--storage.tsdb.path={Path.Combine(dir, "data")}",
                     $"--web.listen-address=127.0.0.1:{webPort}", "--log.level=warn" })
            psi.ArgumentList.Add(a);
        var logs = new ConcurrentQueue<string>();
        using var prometheus = Process.Start(psi)!;
        prometheus.OutputDataReceived += (_, e) => { if (e.Data is not null) logs.Enqueue(e.Data); };
        prometheus.ErrorDataReceived += (_, e) => { if (e.Data is not null) logs.Enqueue(e.Data); };
        prometheus.BeginOutputReadLine();
        prometheus.BeginErrorReadLine();
        try
        {
            using var api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{webPort}"), Timeout = TimeSpan.FromSeconds(10) };
            async Task<JsonElement?> Query(string q)
            {
                try
                {
                    using var r = await api.GetAsync("/api/v1/query?query=" + Uri.EscapeDataString(q));
                    using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
                    return doc.RootElement.Clone();
                }
                catch (HttpRequestException) { return null; }   // not listening yet
                catch (JsonException) { return null; }          // starting up: a plain-text 503
            }
            static IEnumerable<JsonElement> Results(JsonElement? answer) =>
                answer is { } a && a.GetProperty("status").GetString() == "success" ? a.GetProperty("data").GetProperty("result").EnumerateArray() : [];

            var clock = Stopwatch.StartNew();
            await WaitUntilAsync(async () =>
            {
                Assert.False(prometheus.HasExited, $"prometheus exited with {(prometheus.HasExited ? prometheus.ExitCode : 0)}: {string.Join(" | ", logs)}");
                return Results(await Query($"cad_train_steps_total{{model=\"{LiveNodeFixture.ModelId}\"}}"))
                    .Any(s => double.Parse(s.GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture) > 0);
            }, TimeSpan.FromSeconds(60), () => $"Prometheus to scrape cad_train_steps_total > 0 from the node (log: {string.Join(" | ", logs)})");
            output.WriteLine($"prometheus has a training step after {clock.Elapsed.TotalSeconds:F1} s");

            // Each expression, with Grafana's variables filled in, is valid PromQL and returns series once a few scrapes are in.
            var pending = GrafanaDashboard.Load().Expressions.Select(e => (e.Panel, Query: PromQl.ForPrometheus(e.Expr, "10s"))).ToList();
            var errors = new Dictionary<string, string>();
            var deadline = Stopwatch.StartNew();
            while (pending.Count > 0 && deadline.Elapsed < TimeSpan.FromSeconds(45))
            {
                foreach (var e in pending.ToList())
                {
                    var answer = await Query(e.Query);
                    if (answer is { } a && a.GetProperty("status").GetString() != "success")
                        Assert.Fail($"panel '{e.Panel}': Prometheus rejects {e.Query}: {a.GetProperty("error").GetString()}");
                    if (Results(answer).Any()) pending.Remove(e);
                }
                if (pending.Count > 0) await Task.Delay(1000);
            }
            Assert.True(pending.Count == 0, $"no data after {deadline.Elapsed.TotalSeconds:F0} s for: {string.Join("; ", pending.Select(p => $"'{p.Panel}': {p.Query}"))}");
            output.WriteLine($"every dashboard query answered with data after {clock.Elapsed.TotalSeconds:F1} s");
        }
        finally
        {
            if (!prometheus.HasExited) { prometheus.Kill(); prometheus.WaitForExit(10_000); }
            Directory.Delete(dir, recursive: true);
        }
    }
}
