using CadStream.Host.Cli;
using CadStream.Host.Commands;

namespace CadStream.Host;

public static class Program
{
    static readonly ICommand[] Commands = [new TrainCommand(), new SampleCommand(), new TrainClassifierCommand(), new EvalCommand(), new ExperimentCommand(), new ProduceCommand(), new NodeCommand(), new DemoCommand(), new CertsCommand()];

    public static int Main(string[] args)
    {
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
        // SIGTERM (docker stop, systemd, Kubernetes) stops as Ctrl+C does: the node leaves the cluster and its
        // consumer group, and the trainers store a final snapshot, instead of the runtime's abrupt exit.
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM,
            context => { context.Cancel = true; cancel.Cancel(); });
        return Run(args, cancel.Token);
    }

    /// <summary>Exit codes: 0 success, 2 bad usage, 1 failure; errors are one line on stderr.</summary>
    public static int Run(string[] args, CancellationToken cancel) => CliRunner.Run("cadstream", Commands, args, cancel);
}
