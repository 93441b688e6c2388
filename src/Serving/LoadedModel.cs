using CadStream.Model.Networks;
using CadStream.Model.Sampling;
using CadStream.Snapshots;

namespace CadStream.Serving;

/// <summary>
/// One snapshot's network, loaded, with a count of who holds it: the host while it serves it (or keeps it loaded for
/// requests that name its version) and each batch that runs on it. The network is disposed when the last one lets go.
/// </summary>
sealed class LoadedModel(SnapshotInfo info, CadDenoiser denoiser, CadPipeline pipeline, System.Text.Json.JsonElement? coherenceBins = null, string? textEncoder = null)
{
    private int refs = 1;  // the host's own reference, dropped when swapped out
    public SnapshotInfo Info { get; } = info;
    /// <summary>The snapshot's coherence bin table, parsed and checked at install.</summary>
    public System.Text.Json.JsonElement? CoherenceBins { get; } = coherenceBins;
    public string? TextEncoder { get; } = textEncoder;
    public CadDenoiser Denoiser { get; } = denoiser;
    public CadPipeline Pipeline { get; } = pipeline;
    public void AddRef() => Interlocked.Increment(ref refs);
    /// <returns>true when this released the last reference and disposed the network.</returns>
    public bool Release()
    {
        if (Interlocked.Decrement(ref refs) != 0) return false;
        Denoiser.Dispose();
        return true;
    }
}
