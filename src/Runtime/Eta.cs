namespace CadStream.Runtime;

/// <summary>Time left as people read it on a progress line or a status.</summary>
public static class Eta
{
    /// <summary>mm:ss (h:mm:ss past an hour), or --:-- when unknown.</summary>
    public static string Format(double seconds) =>
        !double.IsFinite(seconds) || seconds < 0 ? "--:--" :
        seconds >= 3600 ? TimeSpan.FromSeconds(seconds).ToString(@"h\:mm\:ss") : TimeSpan.FromSeconds(seconds).ToString(@"mm\:ss");
}
