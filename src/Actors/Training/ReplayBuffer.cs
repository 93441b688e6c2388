namespace CadStream.Actors.Training;

/// <summary>
/// Bounded memory of pairs a trainer has seen. Fresh pairs are trained on first; each
/// mini-batch is topped up with pairs drawn uniformly from the buffer (replay), so the model keeps
/// seeing older data while the stream moves on. When full, a new pair overwrites a random old one
/// (a uniform reservoir over the stream).
/// </summary>
public sealed class ReplayBuffer<T>
{
    private readonly T[] items;
    private readonly Queue<T> fresh = new();
    private readonly Random random;
    private int count;
    private long added;

    public int Capacity => items.Length;
    public int Count => count;
    public int FreshCount => fresh.Count;

    public ReplayBuffer(int capacity, int seed = 0)
    {
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity));
        items = new T[capacity];
        random = new Random(seed);
    }

    public void Add(T item) => fresh.Enqueue(item);

    /// <summary>
    /// The next mini-batch: up to batchSize * (1 - replayFraction) fresh pairs (all of the batch
    /// while the buffer is still small), the rest replayed. Null when there is no fresh pair:
    /// a trainer steps while data comes in and does not overfit its buffer when the stream stops.
    /// </summary>
    public List<T>? NextBatch(int batchSize, double replayFraction) => NextBatch(batchSize, replayFraction, out _);

    /// <param name="freshCount">How many of the batch's items are fresh; they come last.</param>
    public List<T>? NextBatch(int batchSize, double replayFraction, out int freshCount)
    {
        freshCount = 0;
        if (fresh.Count == 0) return null;
        int replay = count < batchSize ? 0 : (int)Math.Round(batchSize * Math.Clamp(replayFraction, 0, 1));
        int takeFresh = Math.Min(fresh.Count, batchSize - replay);
        replay = Math.Min(count, batchSize - takeFresh);
        var batch = new List<T>(takeFresh + replay);
        for (int i = 0; i < replay; i++) batch.Add(items[random.Next(count)]);
        for (int i = 0; i < takeFresh; i++)
        {
            var item = fresh.Dequeue();
            batch.Add(item);
            Remember(item);
        }
        freshCount = takeFresh;
        return batch;
    }

    private void Remember(T item)
    {
        added++;
        if (count < items.Length) items[count++] = item;
        else
        {
            long j = random.NextInt64(added);
            if (j < items.Length) items[j] = item;
        }
    }
}
