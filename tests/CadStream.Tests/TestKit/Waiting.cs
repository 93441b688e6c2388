using System.Diagnostics;

namespace CadStream.Tests.TestKit;

/// <summary>Waiting for a condition with a deadline, never a fixed sleep (a global static using: every test calls it bare).</summary>
public static class Waiting
{
    static readonly TimeSpan DefaultPoll = TimeSpan.FromMilliseconds(100);

    /// <summary>Polls <paramref name="condition"/> every <paramref name="poll"/> (100 ms unless told: a state that lasts milliseconds wants less); fails with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, Func<string> what, TimeSpan? poll = null)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout) Assert.Fail($"timed out after {timeout.TotalSeconds:F0} s waiting for {what()}");
            await Task.Delay(poll ?? DefaultPoll);
        }
    }

    /// <inheritdoc cref="WaitUntilAsync(Func{bool}, TimeSpan, Func{string}, TimeSpan?)"/>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> what, TimeSpan? poll = null)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout) Assert.Fail($"timed out after {timeout.TotalSeconds:F0} s waiting for {what()}");
            await Task.Delay(poll ?? DefaultPoll);
        }
    }
}
