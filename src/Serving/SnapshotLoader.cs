using System.Text.Json;
using CadStream.Catalog;
using CadStream.Catalog.Conditions;
using CadStream.Model;
using CadStream.Model.Sampling;
using CadStream.Snapshots;
using static TorchSharp.torch;

namespace CadStream.Serving;

/// <summary>
/// Turns a snapshot's bytes into a network for one model, after checking them: their SHA-256 against the published
/// record, and the snapshot's spec against the catalog's (condition kind, the kind's own rules, image shape); a text
/// snapshot loads only under the encoder it learned from. Slow: runs off the request path.
/// </summary>
sealed class SnapshotLoader(ModelSpec spec, Device device, Func<string?>? encoderIdentity)
{
    string ModelId => spec.Id;

    public LoadedModel Load(SnapshotInfo info, byte[] snapshotBytes)
    {
        var sha = CadSnapshot.Sha256Hex(snapshotBytes);
        if (!string.Equals(sha, info.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new SnapshotIntegrityException($"snapshot {ModelId} v{info.Version}: sha256 {sha} does not match the published {info.Sha256}");
        var snapshot = CadSnapshot.FromBytes(snapshotBytes);
        CheckCompatible(snapshot.Spec);
        var bins = BinTable(info, snapshot.CoherenceBins);
        var denoiser = snapshot.CreateDenoiser(device, encoderIdentity?.Invoke());
        return new LoadedModel(info, denoiser, new CadPipeline(denoiser, device), bins, snapshot.TextEncoder);
    }

    /// <summary>
    /// The bin table as /v1/models shows it, parsed once here: a malformed one refuses the snapshot rather than every
    /// GET /v1/models after it is served.
    /// </summary>
    JsonElement? BinTable(SnapshotInfo info, string? json)
    {
        if (json is null) return null;
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new JsonException("it is not a JSON object");
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new SnapshotFormatException($"snapshot {ModelId} v{info.Version} has a malformed coherence bin table: {e.Message}");
        }
    }

    void CheckCompatible(ModelSpec snapshot)
    {
        if (snapshot.Kind != spec.Kind)
            throw new SnapshotFormatException($"snapshot for model {ModelId} has condition kind '{snapshot.Kind.Name()}', the catalog says '{spec.Kind.Name()}'");
        if (spec.Rules().Incompatibility(snapshot, spec) is { } why)
            throw new SnapshotFormatException($"snapshot for model {ModelId} {why}");
        if (snapshot.Channels != spec.Channels || snapshot.ImageSize != spec.ImageSize)
            throw new SnapshotFormatException(
                $"snapshot for model {ModelId} makes {snapshot.Channels}x{snapshot.ImageSize}x{snapshot.ImageSize} images, the catalog says {spec.Channels}x{spec.ImageSize}x{spec.ImageSize}");
    }
}
