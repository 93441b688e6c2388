using CadStream.Catalog;
using CadStream.Catalog.Judging;
using CadStream.Catalog.Text;
using CadStream.Runtime;
using CadStream.Serving.Conditions;
using CadStream.Snapshots;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace CadStream.Serving;

/// <summary>
/// The serving stage of one node: a <see cref="ModelHost"/> per catalog model and the
/// <see cref="SnapshotFollower"/> that feeds them. As a hosted service it runs the follower under the
/// node's restart policy and stops the sampling threads on host stop; a sampling thread that dies is
/// reported to the node's health at once. It does not own the store.
/// </summary>
public sealed class ServingRuntime : BackgroundService, IAsyncDisposable
{
    public const string FollowerPart = "snapshot follower";

    private readonly Dictionary<string, ModelHost> hosts;
    private int disposed;

    public ServingRuntime(ServingOptions options, ISnapshotStore store, ModelCatalog catalog, NodeHealth health, Device? device = null,
        ILoggerFactory? loggers = null, ISampleJudge? judge = null, ITextEncoder? textEncoder = null, IQualityPrompts? qualityPrompts = null)
    {
        Fields = new RequestFields(textEncoder, qualityPrompts);
        Options = options ?? throw new ArgumentNullException(nameof(options));
        options.Validate();
        Store = store ?? throw new ArgumentNullException(nameof(store));
        Catalog = catalog ?? throw new ArgumentNullException(nameof(catalog));
        Health = health ?? throw new ArgumentNullException(nameof(health));
        var dev = device ?? TorchRuntime.Device;
        hosts = catalog.All.ToDictionary(m => m.Id, m => new ModelHost(m, options, dev, (v, cancel) => Follower!.FetchVersionAsync(m.Id, v, cancel),
            // A text snapshot loads only under the encoder it learned from (asked when its first snapshot loads).
            () => Fields.For(m.Kind).EncoderIdentity), StringComparer.Ordinal);
        foreach (var (id, version) in options.Pins)
        {
            if (!hosts.TryGetValue(id, out var pinned)) throw new ArgumentException($"Serving:Pins names model '{id}', which is not configured");
            pinned.Pin(version);
        }
        foreach (var h in hosts.Values)
            h.Completion.ContinueWith(t => health.FailedForGood($"sampling thread of {h.ModelId}", t.Exception!.GetBaseException().Message),
                TaskContinuationOptions.OnlyOnFaulted);
        Follower = new SnapshotFollower(store, hosts.Values, options.SnapshotPollInterval, loggers?.CreateLogger<SnapshotFollower>());
        Quality = new QualityMonitor(hosts, options, judge, loggers?.CreateLogger<QualityMonitor>(), Fields);
        StartedAt = DateTimeOffset.UtcNow;
    }

    public ServingOptions Options { get; }
    /// <summary>Each condition kind's part of a request (a text model's prompts through the node's text encoder, if it has one).</summary>
    public RequestFields Fields { get; }
    public ISnapshotStore Store { get; }
    public ModelCatalog Catalog { get; }
    public NodeHealth Health { get; }
    public SnapshotFollower Follower { get; }
    public QualityMonitor Quality { get; }
    public TrainingHistory History { get; } = new();
    public IReadOnlyDictionary<string, ModelHost> Hosts => hosts;
    public DateTimeOffset StartedAt { get; }

    /// <summary>True once at least one model has a snapshot loaded (/readyz).</summary>
    public bool IsReady => hosts.Values.Any(h => h.Current is not null);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.WhenAll(
        Supervision.RunAsync(FollowerPart, (stop, up) => Follower.RunAsync(stop, up), Health, stoppingToken),
        Supervision.RunAsync(QualityMonitor.Part, (stop, up) => Quality.RunAsync(stop, up), Health, stoppingToken));

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        foreach (var h in hosts.Values) await h.DisposeAsync().ConfigureAwait(false);
    }
}
