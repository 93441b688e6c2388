using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using CadStream.Host.Cli;
using CadStream.Catalog;

/// <summary>
/// The PyTorch mirror of the trainer's step (bench/pytorch/train_step.py --serve), as a child process
/// that answers "run N" with one JSON line: both sides stay warm, so rounds can alternate in one run.
/// </summary>
sealed class PyTorchMirror : IDisposable
{
    private readonly Process process;

    public JsonObject Header { get; }
    public long Parameters => Header["parameters"]!.GetValue<long>();
    public string TorchVersion => Header["torch"]!.GetValue<string>();
    public int Threads => Header["threads"]!.GetValue<int>();

    private PyTorchMirror(Process process, JsonObject header) => (this.process, Header) = (process, header);

    /// <summary>Starts the mirror for <paramref name="spec"/>; throws with the script's own error when it cannot.</summary>
    public static PyTorchMirror Start(string python, string script, ModelSpec spec, int threads, string device)
    {
        var specFile = Path.Combine(Path.GetTempPath(), $"cadstream-mirror-{Environment.ProcessId}.json");
        // The ModelSpec as the node stores it, plus what its JSON leaves out (derived, [JsonIgnore]).
        var json = JsonSerializer.SerializeToNode(spec)!.AsObject();
        json["NumClasses"] = spec.NumClasses;
        json["UNetSize"] = spec.UNetSize;
        File.WriteAllText(specFile, json.ToJsonString());
        var psi = new ProcessStartInfo(python)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var arg in new[] { script, "--spec", specFile, "--serve", "--threads", threads.ToString(), "--device", device })
            psi.ArgumentList.Add(arg);
        // Same waiting policy as the node's libtorch (TorchRuntime): idle OpenMP threads must not spin on the other side's cores.
        psi.Environment["OMP_WAIT_POLICY"] = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "PASSIVE";
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {python}");
        var stderr = new System.Text.StringBuilder();
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        p.BeginErrorReadLine();
        var first = p.StandardOutput.ReadLine();
        if (first is null)
        {
            p.WaitForExit(5000);
            lock (stderr) throw new InvalidOperationException($"the PyTorch mirror exited before its header: {stderr.ToString().Trim()}");
        }
        return new PyTorchMirror(p, JsonNode.Parse(first)!.AsObject());
    }

    /// <summary>Runs <paramref name="steps"/> mirrored steps; the answer carries ms_per_step (and phases_ms with profile).</summary>
    public JsonObject Run(int steps, bool profile = false)
    {
        process.StandardInput.WriteLine($"{(profile ? "profile" : "run")} {steps}");
        process.StandardInput.Flush();
        var line = process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the PyTorch mirror exited during a run");
        var answer = JsonNode.Parse(line)!.AsObject();
        if (answer["error"] is { } e) throw new InvalidOperationException($"the PyTorch mirror: {e}");
        return answer;
    }

    /// <summary>The first python that imports torch: <paramref name="requested"/>, else python3 on PATH, else Debian's.</summary>
    public static string FindPython(string? requested)
    {
        var candidates = requested is not null ? [requested] : new[] { "python3", "/usr/bin/python3" };
        foreach (var c in candidates)
        {
            try
            {
                var psi = new ProcessStartInfo(c, ["-c", "import torch"]) { RedirectStandardError = true, RedirectStandardOutput = true };
                using var p = Process.Start(psi);
                if (p is null) continue;
                p.WaitForExit();
                if (p.ExitCode == 0) return c;
            }
            catch (System.ComponentModel.Win32Exception) { /* not there: try the next */ }
        }
        throw new UsageException(requested is not null
            ? $"--python {requested} cannot import torch"
            : "no python3 with torch found (tried python3 and /usr/bin/python3); install Debian's with `bash scripts/setup.sh bench` or name one with --python");
    }

    /// <summary>bench/pytorch/train_step.py, from the working directory or above the executable.</summary>
    public static string FindScript(string? requested)
    {
        if (requested is not null)
            return File.Exists(requested) ? requested : throw new UsageException($"--mirror {requested} does not exist");
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var path = Path.Combine(dir.FullName, "bench", "pytorch", "train_step.py");
                if (File.Exists(path)) return path;
            }
        throw new UsageException("bench/pytorch/train_step.py not found above the working directory; name it with --mirror");
    }

    public void Dispose()
    {
        try
        {
            if (!process.HasExited)
            {
                process.StandardInput.WriteLine("quit");
                process.StandardInput.Flush();
                if (!process.WaitForExit(10_000)) process.Kill();
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException) { /* already gone */ }
        process.Dispose();
    }
}
