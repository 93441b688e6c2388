using CadStream.Host.Cli;
using CadStream.Host.Commands;

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
    public static int Run(string[] args, CancellationToken cancel) => CliRunner.Run("cadstream", Commands, args, cancel);
}
