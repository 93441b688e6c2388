using Microsoft.Extensions.Logging;

namespace CadStream.Runtime;

/// <summary>Runs an async long-lived part under the node's <see cref="RestartPolicy"/>.</summary>
public static class Supervision
{
    /// <summary>
    /// Runs <paramref name="run"/> until <paramref name="stop"/>; when it faults (or ends by itself, which a
    /// long-lived part must not), reports to <paramref name="health"/> and runs it again after the back-off.
    /// <paramref name="run"/> calls its second argument once the part is up.
    /// </summary>
    public static async Task RunAsync(string part, Func<CancellationToken, Action, Task> run, NodeHealth health, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            health.Starting(part);
            try
            {
                await run(stop, () => health.Running(part)).ConfigureAwait(false);
                if (stop.IsCancellationRequested) return;
                throw new InvalidOperationException("it stopped by itself");
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { return; }
            catch (Exception e)
            {
                var delay = health.Failed(part, e);
                try { await Task.Delay(delay, stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }
}
