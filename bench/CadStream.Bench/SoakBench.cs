using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using CadStream.Host.Cli;
using CadStream.Host.Commands;

/// <summary>
/// The demo under steady sampling load: starts <c>cadstream demo</c> in a fresh temporary folder (its own
/// snapshots and classifier), waits for /readyz, then runs sampling clients against every model the demo
/// serves for the given time while the trainers keep publishing snapshots, and reads the demo's resident
/// memory every few seconds. Prints the answers by HTTP code, requests/s, the snapshot versions that
/// answered, and RSS first/last/min/max with its slope after warm-up. Exit code 1 when any request got
/// anything but 200 (or no answer), or the demo stopped on its own.
/// </summary>
sealed class SoakBench : ICommand
{
    public string Name => "soak";
    public string Summary => "The demo under sampling clients for a long while: every request must answer 200, RSS should stay flat.";
    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("duration", "how long the clients sample (90s, 20m, 1h)", "20m", ValueName: "TIME"),
        new("clients", "concurrent sampling clients", "4", ValueName: "N"),
        new("rss-every", "seconds between RSS readings", "10", ValueName: "S"),
        new("startup", "longest wait for /readyz (a fresh folder trains the demo's classifier first)", "20m", ValueName: "TIME"),
        new("cadstream", "the cadstream executable (dll)", "src/Host/bin/Release/net10.0/cadstream.dll", ValueName: "FILE"),
        new("classifier", "a classifier.bin to copy in (skips training one; from cadstream train-classifier or an earlier demo)", ValueName: "FILE"),
        new("demo-arg", "an extra argument for cadstream demo (repeat it: --demo-arg --rate --demo-arg 50)", ValueName: "ARG", Repeatable: true),
        new("keep", "keep the temporary folder (the demo's log, snapshots)", IsFlag: true),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        var duration = NodeOptions.ParseDuration(a.RequireString("duration"));
        var startup = NodeOptions.ParseDuration(a.RequireString("startup"));
        int clients = a.Int("clients", 1, 256), rssEvery = a.Int("rss-every", 1, 3600);
        var dll = Path.GetFullPath(a.RequireString("cadstream"));
        if (!File.Exists(dll)) throw new UsageException($"--cadstream: {dll} does not exist (dotnet build src/Host -c Release)");
        var folder = Directory.CreateTempSubdirectory("cadstream-soak-").FullName;
        if (a.Has("classifier")) File.Copy(a.RequireString("classifier"), Path.Combine(folder, "classifier.bin"));
        int port = FreePort();
        var log = Path.Combine(folder, "demo.log");
        Console.WriteLine($"# soak: {clients} clients for {duration}, demo on 127.0.0.1:{port} in {folder} (log {log}), {Environment.ProcessorCount} cores");

        using var demo = StartDemo(dll, folder, port, a.All("demo-arg"), log);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(2) };
        int code = 1;
        try
        {
            WaitReady(http, demo, startup, log, cancel);
            var models = Models(http);
            Console.WriteLine($"# models: {string.Join(", ", models.Select(m => $"{m.Id} ({m.Kind})"))}");
            code = Soak(http, demo, models, clients, duration, rssEvery, cancel);
        }
        finally
        {
            Stop(demo);
            if (code != 0) Console.WriteLine($"# last lines of the demo's log:{Environment.NewLine}{Tail(log, 15)}");
            if (a.Flag("keep")) Console.WriteLine($"# kept {folder}");
            else TryDelete(folder);
        }
        return code;
    }

    sealed record ServedModel(string Id, string Kind, int Classes);

    /// <summary>What the clients saw: answers by code (or transport error), versions per model, latencies.</summary>
    sealed class Tally
    {
        public readonly ConcurrentDictionary<string, long> Codes = new();
        public readonly ConcurrentDictionary<string, ConcurrentDictionary<long, long>> Versions = new();
        public readonly ConcurrentBag<double> Milliseconds = [];
        public readonly ConcurrentQueue<string> Failures = new();
        public long Requests;
    }

    static int Soak(HttpClient http, Process demo, IReadOnlyList<ServedModel> models, int clients, TimeSpan duration, int rssEvery, CancellationToken cancel)
    {
        var tally = new Tally();
        var rss = new List<(double Seconds, double MiB)>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var clock = Stopwatch.StartNew();
        var running = Enumerable.Range(0, clients).Select(i => Task.Run(() => Client(http, models, i, tally, stop.Token))).ToArray();
        var end = clock.Elapsed + duration;
        // A reading now, every rssEvery seconds, and one at the end.
        while (!demo.HasExited && !cancel.IsCancellationRequested)
        {
            rss.Add((clock.Elapsed.TotalSeconds, Rss(demo.Id)));
            var seen = string.Join(", ", tally.Versions.OrderBy(v => v.Key).Select(v => $"{v.Key} v{v.Value.Keys.DefaultIfEmpty().Min()}..v{v.Value.Keys.DefaultIfEmpty().Max()}"));
            Console.WriteLine($"t={clock.Elapsed.TotalSeconds:F0}s requests={Interlocked.Read(ref tally.Requests)} " +
                              $"failed={tally.Failures.Count} rss={rss[^1].MiB:F0}MiB {seen}");
            var left = end - clock.Elapsed;
            if (left <= TimeSpan.Zero) break;
            cancel.WaitHandle.WaitOne(left < TimeSpan.FromSeconds(rssEvery) ? left : TimeSpan.FromSeconds(rssEvery));
        }
        double seconds = clock.Elapsed.TotalSeconds;
        bool demoDied = demo.HasExited;
        stop.Cancel();
        Task.WaitAll(running);  // the requests under way finish and are counted

        long requests = Interlocked.Read(ref tally.Requests);
        var ms = tally.Milliseconds.Order().ToArray();
        Console.WriteLine($"soak_seconds {seconds:F0}");
        Console.WriteLine($"soak_clients {clients}");
        Console.WriteLine($"soak_requests {requests}");
        Console.WriteLine($"soak_requests_per_s {requests / seconds:F2}");
        foreach (var (c, n) in tally.Codes.OrderBy(c => c.Key, StringComparer.Ordinal)) Console.WriteLine($"soak_answers_{c} {n}");
        if (ms.Length > 0) Console.WriteLine($"soak_latency_ms p50 {Percentile(ms, 0.5):F0} p99 {Percentile(ms, 0.99):F0} max {ms[^1]:F0}");
        foreach (var (model, versions) in tally.Versions.OrderBy(v => v.Key))
            Console.WriteLine($"soak_versions_{model} {versions.Count} distinct (v{versions.Keys.Min()}..v{versions.Keys.Max()})");
        if (rss.Count > 0)
        {
            var values = rss.Select(r => r.MiB).ToArray();
            Console.WriteLine($"soak_rss_mib first {values[0]:F0} last {values[^1]:F0} min {values.Min():F0} max {values.Max():F0} ({values.Length} readings)");
            // After the first quarter (JIT, first snapshots, allocator pools filling): a leak shows as a steady slope.
            var settled = rss.Where(r => r.Seconds >= seconds / 4).ToArray();
            if (settled.Length >= 3) Console.WriteLine($"soak_rss_mib_per_minute_after_warmup {Slope(settled) * 60:F2}");
        }
        foreach (var f in tally.Failures.Take(5)) Console.WriteLine($"# failure: {f}");
        if (demoDied) Console.WriteLine($"# the demo stopped on its own (exit code {demo.ExitCode})");
        bool allOk = !demoDied && requests > 0 && tally.Failures.IsEmpty;
        Console.WriteLine(allOk ? "# every request answered 200" : "# FAILED: not every request answered 200");
        return allOk ? 0 : 1;
    }

    static async Task Client(HttpClient http, IReadOnlyList<ServedModel> models, int index, Tally tally, CancellationToken stop)
    {
        var rng = new Random(index);
        for (int i = index; !stop.IsCancellationRequested; i++)
        {
            var m = models[i % models.Count];
            // The server's default sampler and steps: what a user of the page gets.
            string body = m.Kind == "text"
                ? JsonSerializer.Serialize(new { prompt = "a photo of some sneakers", seed = rng.Next(), format = "json" })
                : JsonSerializer.Serialize(new { label = rng.Next(Math.Max(1, m.Classes)), coherence = rng.NextDouble(), seed = rng.Next(), format = "json" });
            var clock = Stopwatch.StartNew();
            string key;
            try
            {
                // Not cancelled by the stop: a request under way finishes and is counted.
                using var r = await http.PostAsync($"/v1/models/{m.Id}/samples", new StringContent(body, Encoding.UTF8, "application/json"));
                var text = await r.Content.ReadAsStringAsync();
                key = ((int)r.StatusCode).ToString(CultureInfo.InvariantCulture);
                if (r.StatusCode == HttpStatusCode.OK)
                {
                    tally.Milliseconds.Add(clock.Elapsed.TotalMilliseconds);
                    using var doc = JsonDocument.Parse(text);
                    long v = doc.RootElement.GetProperty("snapshotVersion").GetInt64();
                    tally.Versions.GetOrAdd(m.Id, _ => new()).AddOrUpdate(v, 1, (_, n) => n + 1);
                }
                else tally.Failures.Enqueue($"{m.Id}: {key} {text[..Math.Min(text.Length, 300)]}");
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or JsonException or KeyNotFoundException)
            {
                key = "transport_error";
                tally.Failures.Enqueue($"{m.Id}: {e.GetType().Name}: {e.Message}");
            }
            tally.Codes.AddOrUpdate(key, 1, (_, n) => n + 1);
            Interlocked.Increment(ref tally.Requests);
        }
    }

    static Process StartDemo(string dll, string folder, int port, IReadOnlyList<string> extra, string log)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])[dll, "demo", "--http", $"127.0.0.1:{port}", "--snapshots", Path.Combine(folder, "snapshots"), .. extra])
            psi.ArgumentList.Add(arg);
        var demo = Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet");
        var writer = new StreamWriter(log) { AutoFlush = true };
        void Append(string? line) { if (line is not null) lock (writer) writer.WriteLine(line); }
        demo.OutputDataReceived += (_, e) => Append(e.Data);
        demo.ErrorDataReceived += (_, e) => Append(e.Data);
        demo.Exited += (_, _) => { lock (writer) writer.Dispose(); };
        demo.EnableRaisingEvents = true;
        demo.BeginOutputReadLine();
        demo.BeginErrorReadLine();
        return demo;
    }

    static void WaitReady(HttpClient http, Process demo, TimeSpan patience, string log, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (demo.HasExited) throw new InvalidOperationException($"the demo exited with code {demo.ExitCode} before it was ready:{Environment.NewLine}{Tail(log, 15)}");
            if (clock.Elapsed > patience) throw new TimeoutException($"the demo was not ready within {patience} (no snapshot loaded):{Environment.NewLine}{Tail(log, 15)}");
            try
            {
                using var r = http.GetAsync("/readyz", cancel).GetAwaiter().GetResult();
                if (r.StatusCode == HttpStatusCode.OK)
                {
                    Console.WriteLine($"# ready after {clock.Elapsed.TotalSeconds:F0} s");
                    return;
                }
            }
            catch (HttpRequestException) { }  // not listening yet
            cancel.WaitHandle.WaitOne(TimeSpan.FromSeconds(1));
            cancel.ThrowIfCancellationRequested();
        }
    }

    static IReadOnlyList<ServedModel> Models(HttpClient http)
    {
        using var doc = JsonDocument.Parse(http.GetStringAsync("/v1/models").GetAwaiter().GetResult());
        return doc.RootElement.EnumerateArray()
            .Select(m => new ServedModel(m.GetProperty("id").GetString()!, m.GetProperty("kind").GetString()!, m.GetProperty("classes").GetArrayLength()))
            .ToArray();
    }

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int signal);

    /// <summary>SIGTERM (the demo stops as on Ctrl-C: trainers store a last snapshot), then a kill if it takes over a minute.</summary>
    static void Stop(Process demo)
    {
        if (demo.HasExited) return;
        const int SigTerm = 15;
        kill(demo.Id, SigTerm);
        if (!demo.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            Console.WriteLine("# the demo did not stop within 60 s of SIGTERM: killed");
            demo.Kill(entireProcessTree: true);
        }
        demo.WaitForExit();
        Console.WriteLine($"# demo stopped, exit code {demo.ExitCode}");
    }

    /// <summary>Resident memory of a process, in MiB, from /proc (Linux).</summary>
    static double Rss(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return double.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024;
        return double.NaN;
    }

    /// <summary>Least-squares slope of MiB over seconds.</summary>
    static double Slope(IReadOnlyList<(double Seconds, double MiB)> points)
    {
        double mx = points.Average(p => p.Seconds), my = points.Average(p => p.MiB);
        double sxy = points.Sum(p => (p.Seconds - mx) * (p.MiB - my)), sxx = points.Sum(p => (p.Seconds - mx) * (p.Seconds - mx));
        return sxx == 0 ? 0 : sxy / sxx;
    }

    static double Percentile(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    static string Tail(string file, int lines)
    {
        try
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            return string.Join(Environment.NewLine, reader.ReadToEnd().Split('\n').TakeLast(lines));
        }
        catch (IOException) { return "(no log)"; }
    }

    static void TryDelete(string folder)
    {
        try { Directory.Delete(folder, recursive: true); }
        catch (IOException) { }
    }

    static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
