using System.Diagnostics;
using System.Text.Json;
using YamlDotNet.Serialization;

namespace CadStream.Tests.Deploy;

/// <summary>
/// config/prometheus/ and config/grafana/: Prometheus accepts its configuration and scrapes every
/// CadStream service; Grafana's provisioning finds the datasource and the dashboard where compose mounts
/// them; the dashboard has the panels it should and uses only the contract's metric names.
/// </summary>
public sealed class MonitoringConfigTests
{
    static readonly Dictionary<string, string> Shell = new() { ["REDIS_PASSWORD"] = "x", ["GRAFANA_ADMIN_PASSWORD"] = "y", ["CADSTREAM_API_KEY"] = "k",
        ["CADSTREAM_ADMIN_KEY"] = "admin:a", ["CADSTREAM_SNAPSHOT_KEY"] = "s", ["CADSTREAM_CERT_PASSWORD"] = "c" };

    static Dictionary<string, object?> Yaml(params string[] path) =>
        ComposeFile.Map(new DeserializerBuilder().Build().Deserialize<object>(Repo.Read(path)));

    public static string Tool(string name) =>
        new[] { $"/usr/bin/{name}", $"/usr/local/bin/{name}" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException($"{name} is not installed: run scripts/setup.sh test (Debian package prometheus)");

    [Fact]
    public void Promtool_accepts_the_prometheus_configuration()
    {
        var psi = new ProcessStartInfo(Tool("promtool")) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "check", "config", Repo.File("config", "prometheus", "prometheus.yml") }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(60_000), "promtool did not finish in 60 s");
        Assert.True(p.ExitCode == 0, $"promtool check config exited {p.ExitCode}: {stdout.Result} {stderr.Result}");
    }

    [Fact]
    public void Prometheus_scrapes_every_replica_of_every_cadstream_service_often()
    {
        var config = Yaml("config", "prometheus", "prometheus.yml");
        var interval = (string)ComposeFile.Map(config["global"])["scrape_interval"]!;
        Assert.True(ParseSeconds(interval) <= 5, $"scrape_interval {interval}: the dashboard wants about 5 s");
        var jobs = ComposeFile.List(config["scrape_configs"]).Select(ComposeFile.Map).ToList();
        var compose = ComposeFile.Load(Shell);
        foreach (var service in ComposeTests.NodeServices.Keys)
        {
            var port = new Uri(ComposeTests.NodeSettingsOf(compose, service).Http.Url.Replace("0.0.0.0", "localhost")).Port;
            // DNS A records of the service name: one address per replica, so scaled nodes are scraped too.
            var job = jobs.SingleOrDefault(j => ComposeFile.List(j.GetValueOrDefault("dns_sd_configs")).Select(ComposeFile.Map)
                .Any(d => ComposeFile.List(d["names"]).Contains(service)));
            Assert.True(job is not null, $"no dns_sd_configs job scrapes {service}");
            var sd = ComposeFile.List(job["dns_sd_configs"]).Select(ComposeFile.Map).Single(d => ComposeFile.List(d["names"]).Contains(service));
            Assert.Equal("A", sd["type"]);
            Assert.Equal(port.ToString(), sd["port"]);
            Assert.Equal("/metrics", job.GetValueOrDefault("metrics_path") ?? "/metrics");
            // A node that protects /metrics answers a scrape without the key with 401.
            if (ComposeTests.NodeSettingsOf(compose, service).Http.ProtectMetrics)
                Assert.True(job.ContainsKey("authorization"), $"{service} protects /metrics but the {job["job_name"]} job sends no key");
        }
        // Prometheus reaches the nodes under those names: it runs in the same compose project.
        Assert.True(compose.Services.ContainsKey("prometheus"));
    }

    static double ParseSeconds(string d) => d.EndsWith("ms") ? double.Parse(d[..^2]) / 1000
        : d.EndsWith('s') ? double.Parse(d[..^1]) : d.EndsWith('m') ? double.Parse(d[..^1]) * 60 : double.Parse(d);

    /// <summary>The uid of the provisioned Prometheus datasource; also checks it points at the compose service.</summary>
    static string ProvisionedDatasourceUid()
    {
        var files = Directory.GetFiles(Repo.File("config", "grafana", "provisioning", "datasources"), "*.y*ml");
        var sources = files.SelectMany(f => ComposeFile.List(ComposeFile.Map(new DeserializerBuilder().Build().Deserialize<object>(File.ReadAllText(f)))["datasources"]))
            .Select(ComposeFile.Map).ToList();
        var prometheus = Assert.Single(sources, s => (string?)s["type"] == "prometheus");
        var url = new Uri((string)prometheus["url"]!);
        var compose = ComposeFile.Load(Shell);
        Assert.True(compose.Services.ContainsKey(url.Host), $"the datasource URL {url} names no compose service");
        Assert.Contains(ComposeFile.Ports(compose.Services["prometheus"]), p => p.Container == url.Port);
        Assert.Equal("proxy", prometheus.GetValueOrDefault("access"));
        var uid = (string?)prometheus.GetValueOrDefault("uid");
        Assert.False(string.IsNullOrWhiteSpace(uid), "the Prometheus datasource needs a fixed uid for the dashboards to refer to");
        return uid!;
    }

    [Fact]
    public void Grafana_provisioning_is_mounted_where_grafana_reads_it_and_the_provider_path_holds_the_dashboard()
    {
        var compose = ComposeFile.Load(Shell);
        var grafana = compose.Services["grafana"];
        Assert.Equal(Repo.File("config", "grafana", "provisioning"), ComposeFile.HostPathOf(grafana, "/etc/grafana/provisioning"));

        var providers = Directory.GetFiles(Repo.File("config", "grafana", "provisioning", "dashboards"), "*.y*ml")
            .SelectMany(f => ComposeFile.List(Yaml("config", "grafana", "provisioning", "dashboards", Path.GetFileName(f))["providers"])).Select(ComposeFile.Map).ToList();
        var provider = Assert.Single(providers);
        Assert.Equal("file", provider["type"]);
        var path = (string)ComposeFile.Map(provider["options"])["path"]!;
        // The provider's folder, inside the Grafana container, is the repository folder holding the dashboard JSON.
        var onHost = ComposeFile.HostPathOf(grafana, path);
        Assert.True(onHost is not null, $"the dashboard provider reads {path}, which compose does not mount");
        Assert.Equal(Path.GetDirectoryName(Repo.File(GrafanaDashboard.File)), onHost!.TrimEnd(Path.DirectorySeparatorChar));
        Assert.True(File.Exists(Path.Combine(onHost, Path.GetFileName(GrafanaDashboard.File))));
        var home = ComposeFile.Environment(grafana).GetValueOrDefault("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH");
        if (home is not null) Assert.Equal(Repo.File(GrafanaDashboard.File), ComposeFile.HostPathOf(grafana, home));
    }

    [Fact]
    public void The_dashboard_has_the_fields_grafana_provisioning_needs_and_panels_use_the_provisioned_datasource()
    {
        var d = GrafanaDashboard.Load();
        var root = d.Root;
        Assert.Equal("CadStream training", root.GetProperty("title").GetString());
        Assert.False(string.IsNullOrWhiteSpace(root.GetProperty("uid").GetString()));
        Assert.True(root.GetProperty("uid").GetString()!.Length <= 40, "Grafana uids are at most 40 characters");
        Assert.True(root.GetProperty("schemaVersion").GetInt32() >= 30);
        Assert.False(root.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.Number, "a provisioned dashboard carries no database id");
        var uid = ProvisionedDatasourceUid();

        var ids = new HashSet<int>();
        var cells = new HashSet<(int, int)>();
        foreach (var p in d.Panels)
        {
            var title = p.GetProperty("title").GetString();
            Assert.False(string.IsNullOrWhiteSpace(title));
            Assert.True(ids.Add(p.GetProperty("id").GetInt32()), $"panel id {p.GetProperty("id")} twice");
            Assert.Contains(p.GetProperty("type").GetString(), new[] { "timeseries", "heatmap", "stat", "gauge", "bargauge", "table" });
            var g = p.GetProperty("gridPos");
            int x = g.GetProperty("x").GetInt32(), y = g.GetProperty("y").GetInt32(), w = g.GetProperty("w").GetInt32(), h = g.GetProperty("h").GetInt32();
            Assert.True(w > 0 && h > 0 && x >= 0 && x + w <= 24, $"panel {title}: gridPos outside the 24 columns");
            for (int i = x; i < x + w; i++)
                for (int j = y; j < y + h; j++)
                    Assert.True(cells.Add((i, j)), $"panel {title} overlaps another panel at ({i}, {j})");
            Assert.Equal(uid, p.GetProperty("datasource").GetProperty("uid").GetString());
            Assert.Equal("prometheus", p.GetProperty("datasource").GetProperty("type").GetString());
            var targets = p.GetProperty("targets").EnumerateArray().ToList();
            Assert.NotEmpty(targets);
            Assert.Equal(targets.Count, targets.Select(t => t.GetProperty("refId").GetString()).Distinct().Count());
            foreach (var t in targets)
            {
                Assert.False(string.IsNullOrWhiteSpace(t.GetProperty("expr").GetString()), $"panel {title}: a target without expr");
                if (t.TryGetProperty("datasource", out var tds)) Assert.Equal(uid, tds.GetProperty("uid").GetString());
            }
        }
        var model = Assert.Single(root.GetProperty("templating").GetProperty("list").EnumerateArray(), v => v.GetProperty("name").GetString() == "model");
        Assert.Equal(uid, model.GetProperty("datasource").GetProperty("uid").GetString());
        Assert.StartsWith("label_values(", Assert.Single(d.VariableQueries));
    }

    [Fact]
    public void The_dashboard_shows_training_coherence_snapshots_ingest_lag_and_serving()
    {
        var d = GrafanaDashboard.Load();
        var all = d.Expressions.ToList();
        bool Has(Func<string, bool> expr) => all.Any(e => expr(e.Expr));
        Assert.True(Has(e => e.Contains("cad_train_loss") && e.Contains("$model")), "loss per model");
        Assert.True(Has(e => e.Contains("rate(cad_train_steps_total")), "train steps/s");
        Assert.True(Has(e => e.Contains("rate(cad_train_samples_total")), "train samples/s");
        Assert.True(Has(e => e.Contains("cad_snapshot_version")), "snapshot version");
        Assert.True(Has(e => e.Contains("histogram_quantile") && e.Contains("cad_snapshot_publish_seconds_bucket")), "publish latency");
        Assert.True(Has(e => e.Contains("cad_ingest_records_total") && e.Contains("outcome")), "ingest by outcome");
        Assert.True(Has(e => e.Contains("cad_kafka_consumer_lag")), "consumer lag");
        Assert.True(Has(e => e.Contains("histogram_quantile(0.5") && e.Contains("cad_sample_seconds_bucket")), "sampling p50");
        Assert.True(Has(e => e.Contains("histogram_quantile(0.99") && e.Contains("cad_sample_seconds_bucket")), "sampling p99");
        Assert.True(Has(e => e.Contains("cad_sample_requests_total") && e.Contains("code")), "requests by status code");
        // The coherence distribution is a heatmap of the histogram's buckets, in Grafana's heatmap format.
        var heatmap = Assert.Single(d.Panels, p => p.GetProperty("type").GetString() == "heatmap");
        var target = Assert.Single(heatmap.GetProperty("targets").EnumerateArray());
        Assert.Contains("cad_coherence_bucket", target.GetProperty("expr").GetString());
        Assert.Contains("by (le)", target.GetProperty("expr").GetString());
        Assert.Equal("heatmap", target.GetProperty("format").GetString());
    }

    [Fact]
    public void Every_metric_the_dashboard_names_is_in_the_contract()
    {
        var names = GrafanaDashboard.Load().AllMetricNames();
        Assert.True(names.Count >= 10, $"found only {string.Join(", ", names)}");
        foreach (var name in names)
        {
            var contract = PromQl.BaseName(name);
            Assert.True(PromQl.ContractMetrics.ContainsKey(contract), $"the dashboard uses {name}, which is not a metric of docs/interfaces.md");
            if (name != contract) Assert.Equal("histogram", PromQl.ContractMetrics[contract]);
        }
        // And every contract metric is on the dashboard.
        Assert.Empty(PromQl.ContractMetrics.Keys.Where(m => !names.Select(PromQl.BaseName).Contains(m)));
    }

    [Theory]
    [InlineData("histogram_quantile(0.99, sum by (le, model) (rate(cad_sample_seconds_bucket{model=~\"$model\"}[$__rate_interval])))", "cad_sample_seconds_bucket")]
    [InlineData("sum by (topic, partition) (cad_kafka_consumer_lag) / on (topic) group_left sum without (partition) (cad_kafka_consumer_lag)", "cad_kafka_consumer_lag")]
    [InlineData("rate(cad_train_steps_total{model=\"by\", job=~\"a|b\"}[5m] offset 1m) > bool 0.5e3 and cad_train_loss", "cad_train_loss,cad_train_steps_total")]
    [InlineData("label_values(cad_train_steps_total, model)", "cad_train_steps_total")]
    [InlineData("max by (model) (cad_snapshot_version{model=~\"${model}\"}) - ignoring(job) up", "cad_snapshot_version,up")]
    public void Metric_names_are_read_from_promql_without_functions_labels_or_variables(string expr, string expected)
    {
        Assert.Equal(expected.Split(','), PromQl.MetricNames(GrafanaDashboard.LabelValuesMetric(expr)));
    }
}
