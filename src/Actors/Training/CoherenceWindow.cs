namespace CadStream.Actors.Training;

/// <summary>The coherence of the last N pairs, counted in ten bins of width 0.1 (drift shows as the counts move).</summary>
public sealed class CoherenceWindow(int capacity)
{
    public const int Bins = 10;
    private readonly byte[] bins = new byte[capacity];
    private readonly int[] counts = new int[Bins];
    private int next, filled;

    public static int Bin(float c) => Math.Clamp((int)(c * Bins), 0, Bins - 1);

    public void Add(float coherence)
    {
        if (filled == bins.Length) counts[bins[next]]--;
        else filled++;
        int b = Bin(coherence);
        bins[next] = (byte)b;
        counts[b]++;
        next = (next + 1) % bins.Length;
    }

    public int[] Counts() => (int[])counts.Clone();
}
