using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;
using CadStream.Host.Cli;

namespace CadStream.Tests.Deploy;

/// <summary>
/// bench/gpu/run.sh runs once, on a machine lent for minutes: a renamed option would waste the run.
/// Every command line it builds is parsed here by the command it names, for the GPU and the dry-run sizes.
/// (The script itself runs end to end with `bash bench/gpu/prepare.sh && bash bench/gpu/run.sh --dry-run`.)
/// The tests do not reference the bench: its commands' options are read from the built bench's --help (the
/// solution's build, which CI runs before the tests, builds it beside them).
/// </summary>
public class GpuScriptTests
{
    static readonly string Script = Repo.Read("bench", "gpu", "run.sh");
    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, IReadOnlyList<OptionSpec>> benchOptions = new();

    /// <summary>The command's options: cadstream's from its assembly, cadstream-bench's from the built executable's --help.</summary>
    static IReadOnlyList<OptionSpec> Options(string assembly, string name)
    {
        if (assembly == "cadstream-bench") return benchOptions.GetOrAdd(name, BenchOptions);
        var commands = Assembly.Load(assembly).GetTypes()
            .Where(t => typeof(ICommand).IsAssignableFrom(t) && !t.IsAbstract && t.GetConstructor(Type.EmptyTypes) is not null)
            .Select(t => (ICommand)Activator.CreateInstance(t)!);
        return (commands.SingleOrDefault(c => c.Name == name) ?? throw new InvalidOperationException($"{assembly} has no command '{name}'")).Options;
    }

    /// <summary>The bench built in the tests' configuration: bench/CadStream.Bench/bin/CONFIGURATION/TFM/cadstream-bench.dll.</summary>
    static string BenchDll()
    {
        var tfm = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var dll = Repo.File("bench", "CadStream.Bench", "bin", tfm.Parent!.Name, tfm.Name, "cadstream-bench.dll");
        Assert.True(File.Exists(dll), $"the bench is not built: {dll} does not exist (dotnet build CadStream.sln -c {tfm.Parent.Name} builds it with the tests)");
        return dll;
    }

    /// <summary>A bench command's options as its --help lists them: "--name VALUE", "--flag", "--name VALUE ..." (repeatable).</summary>
    static IReadOnlyList<OptionSpec> BenchOptions(string command)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { BenchDll(), command, "--help" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(60_000), $"cadstream-bench {command} --help did not answer in 60 s");
        Assert.True(p.ExitCode == 0, $"cadstream-bench {command} --help exited {p.ExitCode}: {stderr.Result}");
        var options = Regex.Matches(stdout.Result, @"^  --(?<name>[a-z0-9-]+)(?<value> \S+)?(?<repeat> \.\.\.)?\s{2,}", RegexOptions.Multiline)
            .Where(m => m.Groups["name"].Value != "help")
            .Select(m => new OptionSpec(m.Groups["name"].Value, "", IsFlag: !m.Groups["value"].Success, Repeatable: m.Groups["repeat"].Success))
            .ToList();
        Assert.True(options.Count > 0, $"cadstream-bench {command} --help lists no options:\n{stdout.Result}");
        return options;
    }

    /// <summary>Every value of a bash array assignment NAME=(...) in the script (one per size set), as words.</summary>
    static List<string[]> Arrays(string name)
    {
        var found = Regex.Matches(Script, $@"^\s*{name}=\((?<v>.*)\)\s*$", RegexOptions.Multiline)
            .Select(m => Words(m.Groups["v"].Value)).ToList();
        Assert.True(found.Count >= 2, $"run.sh sets {name} for the GPU and for the dry run; found {found.Count}");
        return found;
    }

    static string[] Words(string s) =>
        Regex.Matches(s, "\"[^\"]*\"|\\S+").Select(m => m.Value.Trim('"')).ToArray();

    static void Parses(string assembly, string command, string[] args)
    {
        var options = Options(assembly, command);
        var parsed = new ParsedArgs(args, options);   // throws on an unknown option or a flag without its value
        foreach (var o in options.Where(o => !o.IsFlag && parsed.Has(o.Name)))
            Assert.False(string.IsNullOrWhiteSpace(parsed.String(o.Name)), $"{command} --{o.Name} has no value in run.sh");
    }

    [Fact]
    public void Every_stage_of_the_gpu_script_passes_options_its_command_knows()
    {
        foreach (var args in Arrays("smoke_args")) Parses("cadstream-bench", "smoke", args);
        foreach (var args in Arrays("serve_args")) Parses("cadstream-bench", "serve", args);
        foreach (var run in Arrays("train_runs").SelectMany(a => a))
            Parses("cadstream-bench", "train", ["--compare-pytorch", "--python", "python3", .. Words(run)]);
        foreach (var args in Arrays("classifier_args")) Parses("cadstream", "train-classifier", [.. args, "--out", "c.bin"]);
        foreach (var args in Arrays("experiment_fixed"))
            Parses("cadstream", "experiment", ["--steps", "10", .. args, "--classifier", "c.bin", "--out", "x"]);
        // The stages the script starts are the commands checked above.
        var started = Regex.Matches(Script, @"""\$\{(?<exe>bench|node)\[@\]\}"" (?<cmd>[a-z-]+)").Select(m => (m.Groups["exe"].Value, m.Groups["cmd"].Value)).ToHashSet();
        Assert.Equal([("bench", "serve"), ("bench", "smoke"), ("bench", "train"), ("node", "experiment"), ("node", "train-classifier")], started.Order());
    }

    [Fact]
    public void The_gpu_scripts_are_valid_bash_and_publish_without_the_cpu_libtorch()
    {
        foreach (var name in new[] { "run.sh", "prepare.sh" })
        {
            var psi = new ProcessStartInfo("bash", ["-n", Repo.File("bench", "gpu", name)]) { RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"{name}: {err}");
        }
        var prepare = Repo.Read("bench", "gpu", "prepare.sh");
        Assert.Contains("-p:CadExternalLibtorch=true", prepare);
        // The property the script sets is the one the build honours.
        Assert.Contains("'$(CadExternalLibtorch)' == 'true'", Repo.Read("build", "TorchSharpNative.targets"));
        Assert.Contains("libtorch-cpu-linux-x64", Repo.Read("build", "TorchSharpNative.targets"));
    }
}
