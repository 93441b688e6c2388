using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;
using CadStream.Host.Cli;

namespace CadStream.Tests.Deploy;

/// <summary>
/// bench/gpu/run.sh runs once, on a machine lent for minutes: a renamed option would waste the run.
/// Every command line it builds is parsed here by the command it names, for the GPU and the dry-run sizes.
/// (The script itself runs end to end with `bash bench/gpu/prepare.sh && bash bench/gpu/run.sh --dry-run`.)
/// </summary>
public class GpuScriptTests
{
    static readonly string Script = Repo.Read("bench", "gpu", "run.sh");

    static ICommand Command(string assembly, string name)
    {
        var commands = Assembly.Load(assembly).GetTypes()
            .Where(t => typeof(ICommand).IsAssignableFrom(t) && !t.IsAbstract && t.GetConstructor(Type.EmptyTypes) is not null)
            .Select(t => (ICommand)Activator.CreateInstance(t)!);
        return commands.SingleOrDefault(c => c.Name == name) ?? throw new InvalidOperationException($"{assembly} has no command '{name}'");
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
        var cmd = Command(assembly, command);
        var parsed = new ParsedArgs(args, cmd.Options);   // throws on an unknown option or a flag without its value
        foreach (var o in cmd.Options.Where(o => !o.IsFlag && parsed.Has(o.Name)))
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
