using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CadStream.Host.Cli;
using CadStream.Model.Training;
using CadStream.Serving;
using CadStream.Snapshots;
using Microsoft.Extensions.Logging;
using CadStream.Catalog;

/// <summary>
/// Serving latency and batching: p50/p99 of one request at a time (CA-CFG, one image), then the
/// throughput of 16 concurrent clients against one client, first at 50 DDIM steps (the anchor), then at
/// the serving default's sampler and steps. The client ratio shows what dynamic batching buys on this
/// machine (16 clients share each denoising step's forward pass); the setting ratio what fewer steps buy.
/// </summary>
sealed class ServingBench : ICommand
{
    public string Name => "serve";
    public string Summary => "Sampling latency of one client and the throughput of many, over HTTP (one client is the anchor).";
    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("width", "U-Net base channels", "32", ValueName: "C"),
        new("requests", "requests of the single client", "20", ValueName: "N"),
        new("clients", "concurrent clients", "16", ValueName: "N"),
        new("sampler", "sampler of the second setting (the serving default)", "dpm++", ValueName: "NAME"),
        new("steps", "steps of the second setting", "15", ValueName: "N"),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        var device = Bench.Start();
        int width = a.Int("width", 8), requests = a.Int("requests", 1), clients = a.Int("clients", 1);
        var spec = Bench.Spec("bench", width) with { Guidance = 1.0 };
        var folder = Directory.CreateTempSubdirectory("cadstream-bench-").FullName;
        try
        {
            using (var trainer = new CadTrainer(spec, device))
            {
                var store = new FolderSnapshotStore(folder);
                store.PublishAsync(spec.Id, trainer.ToSnapshot(1, includeTrainingState: false).ToBytes(), 1, 0, 0).GetAwaiter().GetResult();
                store.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            int port = FreePort();
            var serveStore = new FolderSnapshotStore(folder);
            // Quiet: the bench prints its figures, not a log line per request.
            var app = ServingApp.BuildServingApp(new ServingOptions { MaxQueuedRequests = 256 }, serveStore, new ModelCatalog([spec]), url: $"http://127.0.0.1:{port}",
                configure: b => b.Logging.ClearProviders());
            app.StartAsync().GetAwaiter().GetResult();
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(10) };
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (http.GetAsync("/readyz").GetAwaiter().GetResult().StatusCode != HttpStatusCode.OK)
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException("serving did not load the snapshot within 60 s");
                Thread.Sleep(100);
            }
            var sampler = CadStream.Model.Scheduling.SamplerKinds.Name(a.Parse("sampler", CadStream.Model.Scheduling.SamplerKinds.Parse));
            int steps = a.Int("steps", 1, 1000);
            Console.WriteLine($"model: width {width}, one image per request, CA-CFG (w = 1)");
            var anchor = Measure(http, "ddim", 50, requests, clients);
            var chosen = Measure(http, sampler, steps, requests, clients);
            Console.WriteLine($"serve_images_per_s_ratio_{sampler}_{steps}_over_ddim_50 {chosen.OneClient / anchor.OneClient:F2}");
            app.StopAsync().GetAwaiter().GetResult();
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
            serveStore.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        finally { Directory.Delete(folder, true); }
        return 0;
    }

    /// <summary>Latency of one client, then the throughput of many, at one sampler setting; prints its figures.</summary>
    static (double OneClient, double Many) Measure(HttpClient http, string sampler, int steps, int requests, int clients)
    {
        string body = $$"""{"label": 7, "coherence": 1, "guidance": 1, "steps": {{steps}}, "sampler": "{{sampler}}", "count": 1, "seed": 1}""";
        double Request()
        {
            var clock = Stopwatch.StartNew();
            using var r = http.PostAsync("/v1/models/bench/samples", new StringContent(body, Encoding.UTF8, "application/json")).GetAwaiter().GetResult();
            if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"sampling answered {(int)r.StatusCode}");
            r.Content.ReadAsByteArrayAsync().GetAwaiter().GetResult();
            return clock.Elapsed.TotalMilliseconds;
        }
        for (int i = 0; i < 2; i++) Request();  // warm-up
        var single = Enumerable.Range(0, requests).Select(_ => Request()).Order().ToArray();
        double oneClientRps = 1000.0 / single.Average();
        var all = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, clients).Select(_ => Task.Run(() => { for (int i = 0; i < Math.Max(1, requests / 4); i++) Request(); })).ToArray();
        Task.WaitAll(tasks);
        double manyRps = clients * Math.Max(1, requests / 4) / all.Elapsed.TotalSeconds;
        // The DDIM-50 anchor keeps the figure names earlier runs printed; other settings carry theirs.
        string tag = sampler == "ddim" && steps == 50 ? "" : $"_{sampler}_{steps}";
        Console.WriteLine($"setting: {sampler}, {steps} steps");
        Console.WriteLine($"serve_latency_p50_ms{tag} {Percentile(single, 0.50):F1}");
        Console.WriteLine($"serve_latency_p99_ms{tag} {Percentile(single, 0.99):F1}");
        Console.WriteLine($"serve_rps_1_client{tag} {oneClientRps:F2}");
        Console.WriteLine($"serve_rps_{clients}_clients{tag} {manyRps:F2}");
        Console.WriteLine($"serve_throughput_ratio_{clients}_over_1{tag} {manyRps / oneClientRps:F2}");
        return (oneClientRps, manyRps);
    }

    static double Percentile(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
