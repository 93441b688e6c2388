using CadStream.Model.Catalog;
using CadStream.Model.Runtime;
using CadStream.Model.Snapshots;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace CadStream.Serving;

/// <summary>
/// The serving stage of one node: a <see cref="ModelHost"/> per catalog model and the
/// <see cref="SnapshotFollower"/> that feeds them. As a hosted service it starts following on host
/// start and stops the sampling threads on host stop. It does not own the store.
/// </summary>
public sealed class ServingRuntime : IHostedService, IAsyncDisposable
{
    private readonly Dictionary<string, ModelHost> hosts;
    private int disposed;

    public ServingRuntime(ServingOptions options, ISnapshotStore store, ModelCatalog catalog, Device? device = null,
        ILoggerFactory? loggers = null)
    {
        Options = options ?? throw new ArgumentNullException(nameof(options));
        options.Validate();
        Store = store ?? throw new ArgumentNullException(nameof(store));
        Catalog = catalog ?? throw new ArgumentNullException(nameof(catalog));
        var dev = device ?? TorchRuntime.Device;
        hosts = catalog.All.ToDictionary(m => m.Id, m => new ModelHost(m, options, dev), StringComparer.Ordinal);
        Follower = new SnapshotFollower(store, hosts.Values, options.SnapshotPollInterval, loggers?.CreateLogger<SnapshotFollower>());
        StartedAt = DateTimeOffset.UtcNow;
    }

    public ServingOptions Options { get; }
    public ISnapshotStore Store { get; }
    public ModelCatalog Catalog { get; }
    public SnapshotFollower Follower { get; }
    public IReadOnlyDictionary<string, ModelHost> Hosts => hosts;
    public DateTimeOffset StartedAt { get; }

    /// <summary>True once at least one model has a snapshot loaded (/readyz).</summary>
    public bool IsReady => hosts.Values.Any(h => h.Current is not null);

    public Task StartAsync(CancellationToken cancellationToken) => Follower.StartAsync(cancellationToken);

    public async Task StopAsync(CancellationToken cancellationToken) => await DisposeAsync().ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        await Follower.DisposeAsync().ConfigureAwait(false);
        foreach (var h in hosts.Values) await h.DisposeAsync().ConfigureAwait(false);
    }
}
