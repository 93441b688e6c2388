using Akka.Actor;
using CadStream.Runtime;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace CadStream.Host.Cluster;

/// <summary>
/// The node's exit code from its health: a part that fails for good, or an actor system that ends under the
/// running node (the cluster downed it), stops the node with exit code 1; a node asked to stop exits with 0.
/// </summary>
internal sealed class NodeExit
{
    private readonly TaskCompletionSource<int> exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int failed;

    /// <summary>Completes with the exit code once the node has stopped.</summary>
    public Task<int> Exited => exit.Task;

    /// <summary>Starts watching a started node; <paramref name="disposing"/> says the node is being disposed (its system ending is then expected).</summary>
    public void Watch(WebApplication app, NodeHealth health, ActorSystem system, Func<bool> disposing)
    {
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        health.Changed += s =>
        {
            if (s.State == PartState.Failed) Fail();
        };
        if (health.Parts.Any(p => p.State == PartState.Failed)) Fail();
        system.WhenTerminated.ContinueWith(_ =>
        {
            if (!lifetime.ApplicationStopping.IsCancellationRequested && !disposing())
                health.FailedForGood("actor system", "it ended while the node was running (the cluster downed this node?)");
        }, TaskScheduler.Default);
        lifetime.ApplicationStopped.Register(Stopped);

        void Fail()
        {
            if (Interlocked.Exchange(ref failed, 1) != 0) return;
            // Off the reporting thread: stopping waits for hosted services, one of which may be reporting.
            Task.Run(async () =>
            {
                try { await app.StopAsync(); } catch (Exception) { /* stopping anyway */ }
                exit.TrySetResult(1);
            });
        }
    }

    /// <summary>The node has stopped (or was disposed): 1 when a part failed for good, else 0.</summary>
    public void Stopped() => exit.TrySetResult(Volatile.Read(ref failed));
}
