namespace CadStream.Sources;

/// <summary>
/// A stage that mixes the stream within a buffer of <c>size</c> records (as WebDataset's shuffle does): shards are
/// often written in order (by class, by crawl), and a trainer learns better from a mixed stream. Seeded, so a re-run
/// sends the same order; size 0 or 1 leaves the order as read.
/// </summary>
public static class ShuffleBuffer
{
    public static IEnumerable<T> Shuffle<T>(IEnumerable<T> items, int size, int seed)
    {
        if (size < 0) throw new ArgumentOutOfRangeException(nameof(size), "the shuffle buffer's size must be >= 0");
        if (size <= 1) { foreach (var item in items) yield return item; yield break; }
        var random = new Random(seed);
        var buffer = new List<T>(size);
        foreach (var item in items)
        {
            if (buffer.Count < size) { buffer.Add(item); continue; }
            int i = random.Next(size);
            yield return buffer[i];
            buffer[i] = item;
        }
        while (buffer.Count > 0)
        {
            int i = random.Next(buffer.Count);
            yield return buffer[i];
            buffer[i] = buffer[^1];
            buffer.RemoveAt(buffer.Count - 1);
        }
    }
}
