using CadStream.Host.Cli;
using CadStream.Host.Commands;
using CadStream.Model.Data;
using CadStream.Model.Runtime;
using CadStream.Model.Snapshots;

namespace CadStream.Host;

public static class Program
{
    static readonly ICommand[] Commands = [new TrainCommand(), new SampleCommand(), new TrainClassifierCommand(), new EvalCommand(), new ExperimentCommand(), new ProduceCommand(), new NodeCommand(), new DemoCommand()];

    public static int Main(string[] args)
    {
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
        return Run(args, cancel.Token);
    }

    /// <summary>Exit codes: 0 success, 2 bad usage, 1 failure; errors are one line on stderr.</summary>
    public static int Run(string[] args, CancellationToken cancel)
    {
        if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
        {
            Console.WriteLine(Usage());
            return args.Length == 0 ? 2 : 0;
        }
        var command = Commands.FirstOrDefault(c => c.Name == args[0]);
        if (command is null)
        {
            Console.Error.WriteLine($"cadstream: unknown command '{args[0]}'; commands: {string.Join(", ", Commands.Select(c => c.Name))} (see cadstream --help)");
            return 2;
        }
        try
        {
            var parsed = new ParsedArgs(args[1..], command.Options);
            if (parsed.HelpRequested)
            {
                Console.WriteLine(Help.For(command));
                return 0;
            }
            return command.Run(parsed, cancel);
        }
        catch (UsageException e) { return Fail(command, e.Message, 2); }
        catch (DatasetMissingException e) { return Fail(command, e.Message, 1); }
        catch (DeviceUnavailableException e) { return Fail(command, e.Message, 1); }
        catch (SnapshotFormatException e) { return Fail(command, e.Message, 1); }
        catch (IOException e) { return Fail(command, e.Message, 1); }
        catch (UnauthorizedAccessException e) { return Fail(command, e.Message, 1); }
        catch (InvalidDataException e) { return Fail(command, e.Message, 1); }
        catch (OperationCanceledException) { return Fail(command, "interrupted", 1); }
        catch (Exception e)
        {
            Console.Error.WriteLine($"cadstream {command.Name}: internal error: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
            if (Environment.GetEnvironmentVariable("CADSTREAM_DEBUG") == "1") Console.Error.WriteLine(e);
            return 1;
        }
    }

    static int Fail(ICommand command, string message, int code)
    {
        Console.Error.WriteLine($"cadstream {command.Name}: {message}");
        return code;
    }

    static string Usage() => string.Join(Environment.NewLine,
        ["usage: cadstream COMMAND [options]", "", "commands:",
         .. Commands.Select(c => $"  {c.Name,-18} {c.Summary}"),
         "", "cadstream COMMAND --help shows a command's options."]);
}
