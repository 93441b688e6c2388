namespace CadStream.Host.Cli;

/// <summary>
/// A live progress line on stderr: rewritten in place on a terminal, printed at most every few
/// seconds when redirected (CI logs stay readable).
/// </summary>
public sealed class ProgressLine(TimeSpan? logInterval = null)
{
    private readonly bool interactive = !Console.IsErrorRedirected;
    private readonly TimeSpan interval = logInterval ?? TimeSpan.FromSeconds(5);
    private DateTime last = DateTime.MinValue;
    private int lastLength;

    public void Update(string text, bool force = false)
    {
        var now = DateTime.UtcNow;
        if (interactive)
        {
            if (!force && now - last < TimeSpan.FromMilliseconds(200)) return;
            Console.Error.Write("\r" + text.PadRight(lastLength));
            lastLength = text.Length;
        }
        else
        {
            if (!force && now - last < interval) return;
            Console.Error.WriteLine(text);
        }
        last = now;
    }

    public void Finish(string text)
    {
        Update(text, force: true);
        if (interactive) Console.Error.WriteLine();
    }
}
