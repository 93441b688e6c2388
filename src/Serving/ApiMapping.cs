using CadStream.Catalog;
using CadStream.Imaging;

namespace CadStream.Serving;

/// <summary>
/// The serving stage's state as the API's documents (the records of ApiDocuments.cs): a model, its history, its live
/// sample quality, a request's images. The endpoints route and answer; what the answers say is decided here.
/// </summary>
static class ApiMapping
{
    /// <summary>GET /v1/models: one model, the versions its store keeps and its latest live sample quality.</summary>
    public static ModelInfo Model(ModelHost h, IReadOnlyList<long> kept, SampleQuality? quality)
    {
        var s = h.Current;
        return new ModelInfo(h.ModelId, h.Spec.Kind.Name(), h.Spec.Mode.Name(), h.Spec.Classes, s?.Version, s?.Steps, s?.Samples, s?.Created,
            h.DefaultGuidance, kept, h.PinnedVersion, quality?.Accuracy,
            // What c meant when the served snapshot learned (score-derived coherences), and a text model's encoder.
            h.CurrentCoherenceBins, h.CurrentTextEncoder);
    }

    public static QualityReading? Quality(SampleQuality? q) => q is null ? null
        : new QualityReading(q.SnapshotVersion, q.Accuracy, q.AccuracyAtZero, q.At, q.PerClass, q.Images, Math.Min(q.PerClass, QualityMonitor.GridRows),
            q.Steps, Convert.ToBase64String(q.GridPng));

    /// <summary>GET /v1/models/{id}/history: the recent training curve, the coherence of recent pairs and the latest live sample quality.</summary>
    public static HistoryDocument History(ServingRuntime runtime, string id) => new(id, runtime.History.Points(id),
        new CoherenceHistogram(TrainingHistory.CoherenceEdges, runtime.History.Coherence(id)), Quality(runtime.Quality.Latest(id)));

    /// <summary>A request's images as JSON: each one its own PNG, base64.</summary>
    /// <param name="pixels">The images' bytes, one <see cref="ModelSpec.ImageBytes"/> after another.</param>
    public static SampleImages Images(byte[] pixels, int count, ModelSpec spec, long snapshotVersion, long seed)
    {
        int each = spec.ImageBytes, c = spec.Channels, side = spec.ImageSize;
        var images = new string[count];
        for (int i = 0; i < count; i++)
            images[i] = Convert.ToBase64String(ImageGrid.EncodePng(pixels[(i * each)..((i + 1) * each)], 1, c, side, side, columns: 1, scale: 1, gap: 0));
        return new SampleImages(images, snapshotVersion, seed);
    }
}
