using System.Globalization;
using CadStream.Catalog;
using CadStream.Data;
using CadStream.Model;
using CadStream.Runtime;

namespace CadStream.Host.Cli;

/// <summary>Bad usage: exit code 2 and this one line on stderr.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>One option of a command, for parsing and for --help.</summary>
/// <param name="Repeatable">May be given more than once (each value kept, in order: <see cref="ParsedArgs.All"/>); otherwise the last one counts.</param>
/// <param name="Many">Takes every value up to the next option (--from a.tar b.tar); implies <paramref name="Repeatable"/>.</param>
public sealed record OptionSpec(string Name, string Help, string? Default = null, bool IsFlag = false, string? ValueName = null, bool Repeatable = false, bool Many = false);

/// <summary>
/// Parsed "--name value" / "--flag" arguments, checked against the command's option list, with
/// typed accessors whose errors say which option is wrong and what is expected.
/// </summary>
public sealed class ParsedArgs
{
    private readonly Dictionary<string, string?> values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> repeated = new(StringComparer.Ordinal);
    private readonly Dictionary<string, OptionSpec> specs;

    public bool HelpRequested { get; }

    public ParsedArgs(IReadOnlyList<string> args, IEnumerable<OptionSpec> options)
    {
        specs = options.ToDictionary(o => o.Name);
        for (int i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (a is "--help" or "-h") { HelpRequested = true; continue; }
            if (!a.StartsWith("--", StringComparison.Ordinal) || a.Length == 2)
                throw new UsageException($"unexpected argument '{a}'; options look like --name value (see --help)");
            var name = a[2..];
            string? inline = null;
            int eq = name.IndexOf('=');
            if (eq > 0) { inline = name[(eq + 1)..]; name = name[..eq]; }
            if (!specs.TryGetValue(name, out var spec))
                throw new UsageException($"unknown option --{name} (see --help)");
            if (spec.IsFlag)
            {
                values[name] = inline ?? "true";
                continue;
            }
            if (inline is null)
            {
                if (i + 1 >= args.Count) throw new UsageException($"--{name} needs a value");
                inline = args[++i];
            }
            values[name] = inline;
            if (spec.Repeatable || spec.Many)
            {
                if (!repeated.TryGetValue(name, out var all)) repeated[name] = all = [];
                all.Add(inline);
                while (spec.Many && i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal)) all.Add(args[++i]);
            }
        }
    }

    /// <summary>Every value of a repeatable option, in the order given.</summary>
    public IReadOnlyList<string> All(string name) => repeated.TryGetValue(name, out var all) ? all : [];

    public bool Has(string name) => values.ContainsKey(name);

    public string? String(string name) => values.TryGetValue(name, out var v) ? v : specs[name].Default;

    public string RequireString(string name) =>
        String(name) ?? throw new UsageException($"--{name} is required");

    public bool Flag(string name)
    {
        var v = String(name);
        return v is not null && v is not "false" and not "0";
    }

    public int Int(string name, int min = int.MinValue, int max = int.MaxValue)
    {
        var v = RequireString(name);
        if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var x) || x < min || x > max)
            throw new UsageException($"--{name} must be an integer in {Range(min, max)} (got '{v}')");
        return x;
    }

    public long Long(string name, long min = long.MinValue, long max = long.MaxValue)
    {
        var v = RequireString(name);
        if (!long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var x) || x < min || x > max)
            throw new UsageException($"--{name} must be an integer in {Range(min, max)} (got '{v}')");
        return x;
    }

    public double Double(string name, double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        var v = RequireString(name);
        if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) || !double.IsFinite(x) || x < min || x > max)
            throw new UsageException($"--{name} must be a number in {Range(min, max)} (got '{v}')");
        return x;
    }

    /// <summary>
    /// A condition kind of the one vocabulary (class, text, segmap; the aliases label and caption too). A kind the
    /// stages do not implement yet is bad usage, said in one line.
    /// </summary>
    public ConditionKind Condition(string name = "condition")
    {
        var kind = Parse(name, ConditionKinds.Parse);
        return kind.IsAvailable() ? kind : throw new UsageException(ConditionKinds.NotAvailable(kind));
    }

    public T Parse<T>(string name, Func<string, T> parse)
    {
        var v = RequireString(name);
        try { return parse(v); }
        catch (ArgumentException e) { throw new UsageException($"--{name}: {e.Message}"); }
    }

    static string Range<T>(T min, T max) where T : IComparable<T>
    {
        string lo = min is int i && i == int.MinValue || min is long l && l == long.MinValue || min is double d && double.IsNegativeInfinity(d) ? "" : Convert.ToString(min, CultureInfo.InvariantCulture)!;
        string hi = max is int j && j == int.MaxValue || max is long m && m == long.MaxValue || max is double e && double.IsPositiveInfinity(e) ? "" : Convert.ToString(max, CultureInfo.InvariantCulture)!;
        return (lo, hi) switch
        {
            ("", "") => "any value",
            (_, "") => $"[{lo}, ...)",
            ("", _) => $"(..., {hi}]",
            _ => $"[{lo}, {hi}]",
        };
    }
}

/// <summary>A sub-command of the cadstream executable.</summary>
public interface ICommand
{
    string Name { get; }
    string Summary { get; }
    IReadOnlyList<OptionSpec> Options { get; }
    /// <returns>The process exit code.</returns>
    int Run(ParsedArgs args, CancellationToken cancel);
}

public static class Help
{
    public static string For(ICommand command, string program = "cadstream")
    {
        var lines = new List<string> { $"usage: {program} {command.Name} [options]", "", command.Summary, "", "options:" };
        int width = command.Options.Select(o => Label(o).Length).DefaultIfEmpty(0).Max();
        foreach (var o in command.Options)
            lines.Add($"  {Label(o).PadRight(width)}  {o.Help}{(o.Default is null || o.IsFlag ? "" : $" (default {o.Default})")}");
        lines.Add($"  {"--help".PadRight(width)}  show this help");
        return string.Join(Environment.NewLine, lines);
    }

    static string Label(OptionSpec o) => (o.IsFlag ? $"--{o.Name}" : $"--{o.Name} {o.ValueName ?? "VALUE"}") + (o.Repeatable || o.Many ? " ..." : "");
}

/// <summary>
/// Runs one command of a program (cadstream, cadstream-bench): parses its options, maps failures to
/// exit codes (0 success, 2 bad usage, 1 failure) and prints one line on stderr saying what is wrong.
/// </summary>
public static class CliRunner
{
    public static int Run(string program, IReadOnlyList<ICommand> commands, string[] args, CancellationToken cancel)
    {
        if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
        {
            Console.WriteLine(Usage(program, commands));
            return args.Length == 0 ? 2 : 0;
        }
        var command = commands.FirstOrDefault(c => c.Name == args[0]);
        if (command is null)
        {
            Console.Error.WriteLine($"{program}: unknown command '{args[0]}'; commands: {string.Join(", ", commands.Select(c => c.Name))} (see {program} --help)");
            return 2;
        }
        int Fail(string message, int code)
        {
            Console.Error.WriteLine($"{program} {command.Name}: {message}");
            return code;
        }
        try
        {
            var parsed = new ParsedArgs(args[1..], command.Options);
            if (parsed.HelpRequested)
            {
                Console.WriteLine(Help.For(command, program));
                return 0;
            }
            return command.Run(parsed, cancel);
        }
        catch (UsageException e) { return Fail(e.Message, 2); }
        catch (DatasetMissingException e) { return Fail(e.Message, 1); }
        catch (DeviceUnavailableException e) { return Fail(e.Message, 1); }
        catch (SnapshotFormatException e) { return Fail(e.Message, 1); }
        catch (IOException e) { return Fail(e.Message, 1); }
        catch (UnauthorizedAccessException e) { return Fail(e.Message, 1); }
        catch (InvalidDataException e) { return Fail(e.Message, 1); }
        catch (OperationCanceledException) { return Fail("interrupted", 1); }
        catch (Exception e)
        {
            Console.Error.WriteLine($"{program} {command.Name}: internal error: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
            if (Environment.GetEnvironmentVariable("CADSTREAM_DEBUG") == "1") Console.Error.WriteLine(e);
            return 1;
        }
    }

    static string Usage(string program, IReadOnlyList<ICommand> commands) => string.Join(Environment.NewLine,
        [$"usage: {program} COMMAND [options]", "", "commands:",
         .. commands.Select(c => $"  {c.Name,-18} {c.Summary}"),
         "", $"{program} COMMAND --help shows a command's options."]);
}
