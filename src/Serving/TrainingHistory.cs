using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;

namespace CadStream.Serving;

/// <summary>One moment of a model's training, as the page's charts draw it.</summary>
/// <param name="T">Unix milliseconds.</param>
/// <param name="Accuracy">The live sample accuracy at coherence 1 (the clean classifier's agreement), when measured.</param>
/// <param name="AccuracyAtZero">The same at coherence 0 (CAD models), when measured.</param>
public sealed record HistoryPoint(long T, long Step, double? Loss, double? StepsPerSecond, long? SnapshotVersion,
    double? Accuracy = null, double? AccuracyAtZero = null);

/// <summary>
/// A bounded in-memory series per model of what training did (step, loss, steps/s, snapshot version,
/// live sample accuracy) and the coherence distribution of its recent pairs: GET /v1/models/{id}/history.
/// When full, every other point of the older half is dropped, so the series keeps the whole run at a
/// coarser grain instead of only its end.
/// </summary>
public sealed class TrainingHistory(int capacity = 600)
{
    /// <summary>Bin edges of the coherence distribution: 0, 0.1, ..., 1.</summary>
    public static readonly double[] CoherenceEdges = Enumerable.Range(0, 11).Select(i => i / 10.0).ToArray();

    private sealed class Series
    {
        public readonly List<HistoryPoint> Points = [];
        public int[] Coherence = new int[CoherenceEdges.Length - 1];
    }

    private readonly ConcurrentDictionary<string, Series> models = new(StringComparer.Ordinal);

    public void Record(string model, HistoryPoint point, int[]? coherenceCounts)
    {
        var s = models.GetOrAdd(model, _ => new Series());
        lock (s)
        {
            // The same step and version again (no training since) adds nothing new, except a new accuracy.
            if (s.Points.Count > 0 && s.Points[^1] is { } last && last.Step == point.Step && last.SnapshotVersion == point.SnapshotVersion
                && last.Accuracy == point.Accuracy && last.AccuracyAtZero == point.AccuracyAtZero)
                s.Points[^1] = point;
            else s.Points.Add(point);
            if (s.Points.Count > capacity)
            {
                int half = s.Points.Count / 2;
                var older = s.Points.Take(half).Where((_, i) => i % 2 == 0).ToList();
                s.Points.RemoveRange(0, half);
                s.Points.InsertRange(0, older);
            }
            if (coherenceCounts is { Length: > 0 } c && c.Length == s.Coherence.Length) s.Coherence = (int[])c.Clone();
        }
    }

    public IReadOnlyList<HistoryPoint> Points(string model)
    {
        if (!models.TryGetValue(model, out var s)) return [];
        lock (s) return s.Points.ToArray();
    }

    public int[] Coherence(string model)
    {
        if (!models.TryGetValue(model, out var s)) return new int[CoherenceEdges.Length - 1];
        lock (s) return (int[])s.Coherence.Clone();
    }
}

/// <summary>Adds a point per model to the <see cref="TrainingHistory"/> every interval, from the node's status and the quality monitor.</summary>
public sealed class TrainingRecorder(TrainingHistory history, INodeStatus status, ServingRuntime runtime, TimeSpan? interval = null) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval ?? TimeSpan.FromSeconds(2));
        try
        {
            do RecordNow();
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    public void RecordNow()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var training = status.Current().Training;
        foreach (var id in runtime.Hosts.Keys)
        {
            var t = training.GetValueOrDefault(id);
            var q = runtime.Quality.Latest(id);
            if (t is null && q is null) continue;
            history.Record(id, new HistoryPoint(now, t?.Steps ?? 0, t?.Loss, t?.StepsPerSecond, t?.SnapshotVersion ?? runtime.Hosts[id].Current?.Version,
                q?.Accuracy, q?.AccuracyAtZero), t?.CoherenceCounts);
        }
    }
}
