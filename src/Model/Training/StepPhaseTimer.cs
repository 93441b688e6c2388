using System.Diagnostics;

namespace CadStream.Model.Training;

/// <summary>
/// Where a training step's time goes: the trainer marks the end of each phase (data, forward,
/// backward, clip, optimizer, ema) when one is attached. On a GPU each mark waits for the device
/// first (<paramref name="synchronize"/>), else the time would land in whichever phase syncs next.
/// For benches and profiling; a trainer without one pays nothing.
/// </summary>
public sealed class StepPhaseTimer(Action? synchronize = null)
{
    public static readonly string[] Phases = ["data", "forward", "backward", "clip", "optimizer", "ema"];

    private readonly Dictionary<string, double> seconds = Phases.ToDictionary(p => p, _ => 0.0);
    private long last;

    public long Steps { get; private set; }

    internal void Start()
    {
        synchronize?.Invoke();
        last = Stopwatch.GetTimestamp();
        Steps++;
    }

    internal void Mark(string phase)
    {
        synchronize?.Invoke();
        long now = Stopwatch.GetTimestamp();
        seconds[phase] += Stopwatch.GetElapsedTime(last, now).TotalSeconds;
        last = now;
    }

    /// <summary>Mean milliseconds per step of each phase.</summary>
    public IReadOnlyDictionary<string, double> MillisecondsPerStep() =>
        Phases.ToDictionary(p => p, p => Steps == 0 ? 0 : 1000 * seconds[p] / Steps);

    public void Reset()
    {
        foreach (var p in Phases) seconds[p] = 0;
        Steps = 0;
    }
}
