using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using CadStream.Catalog.Text;

namespace CadStream.Text;

/// <summary>
/// An encoder with a bounded least-recently-used cache per caption hash in front of it: a batch is
/// answered from the cache where it can, and the misses (each distinct caption once) go to the inner
/// encoder in one call. Thread-safe: lookups never wait for an encoding in progress; encodings run one
/// at a time (the inner encoder uses every core already), and a caller re-checks the cache once its
/// turn comes, so two callers never encode the same caption.
/// </summary>
public sealed class CachedTextEncoder : ITextEncoder
{
    private readonly ITextEncoder inner;
    private readonly object cacheLock = new();
    private readonly object encodeGate = new();
    private readonly Dictionary<UInt128, LinkedListNode<(UInt128 Key, TextEmbedding Value)>> index = new();
    private readonly LinkedList<(UInt128 Key, TextEmbedding Value)> recency = new(); // most recent first
    private long hits, misses, encoded, calls;

    /// <summary>Most captions kept. Memory per caption is about tokens x width x 4 bytes (30 x 384 x 4 = 46 KB).</summary>
    public int Capacity { get; }
    public string Identity => inner.Identity;
    public int Width => inner.Width;
    public int MaxTokens => inner.MaxTokens;

    /// <summary>Captions answered from the cache.</summary>
    public long Hits => Interlocked.Read(ref hits);
    /// <summary>Captions not in the cache when asked for.</summary>
    public long Misses => Interlocked.Read(ref misses);
    /// <summary>Distinct captions sent to the inner encoder.</summary>
    public long CaptionsEncoded => Interlocked.Read(ref encoded);
    /// <summary>Calls made to the inner encoder.</summary>
    public long EncodeCalls => Interlocked.Read(ref calls);

    public int Count
    {
        get { lock (cacheLock) return index.Count; }
    }

    public CachedTextEncoder(ITextEncoder inner, int capacity = 4096)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), $"cache capacity must be at least 1, got {capacity}");
        this.inner = inner;
        Capacity = capacity;
    }

    /// <summary>The cache key of a caption: the first 128 bits of SHA-256 over its UTF-8 bytes.</summary>
    public static UInt128 CaptionKey(string caption)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(caption), hash);
        return BinaryPrimitives.ReadUInt128LittleEndian(hash);
    }

    public TextEncoding Encode(IReadOnlyList<string> captions)
    {
        ArgumentNullException.ThrowIfNull(captions);
        var rows = new TextEmbedding?[captions.Count];
        var keys = new UInt128[captions.Count];
        for (int i = 0; i < keys.Length; i++)
            keys[i] = CaptionKey(captions[i] ?? throw new ArgumentException($"caption {i} is null"));

        int missing = Lookup(keys, rows);
        Interlocked.Add(ref hits, captions.Count - missing);
        Interlocked.Add(ref misses, missing);
        if (missing > 0)
        {
            lock (encodeGate)
            {
                // Another caller may have encoded some of them while this one waited.
                if (Lookup(keys, rows) > 0) EncodeMisses(captions, keys, rows);
            }
        }
        return TextEncoding.Pack(rows!, Width);
    }

    /// <summary>Fills rows from the cache where empty; returns how many stay empty.</summary>
    int Lookup(UInt128[] keys, TextEmbedding?[] rows)
    {
        int missing = 0;
        lock (cacheLock)
        {
            for (int i = 0; i < keys.Length; i++)
            {
                if (rows[i] is not null) continue;
                if (index.TryGetValue(keys[i], out var node))
                {
                    recency.Remove(node);
                    recency.AddFirst(node);
                    rows[i] = node.Value.Value;
                }
                else missing++;
            }
        }
        return missing;
    }

    void EncodeMisses(IReadOnlyList<string> captions, UInt128[] keys, TextEmbedding?[] rows)
    {
        // Each distinct missing caption once, in first-seen order.
        var positions = new Dictionary<UInt128, List<int>>();
        var distinct = new List<string>();
        var distinctKeys = new List<UInt128>();
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i] is not null) continue;
            if (!positions.TryGetValue(keys[i], out var at))
            {
                positions[keys[i]] = at = [];
                distinct.Add(captions[i]);
                distinctKeys.Add(keys[i]);
            }
            at.Add(i);
        }
        var encoding = inner.Encode(distinct);
        if (encoding.Count != distinct.Count || encoding.Width != Width)
            throw new InvalidOperationException($"the inner encoder answered {encoding.Count}x{encoding.Width} for {distinct.Count} captions of width {Width}");
        Interlocked.Increment(ref calls);
        Interlocked.Add(ref encoded, distinct.Count);
        lock (cacheLock)
        {
            for (int k = 0; k < distinctKeys.Count; k++)
            {
                var row = encoding.Row(k);
                foreach (var i in positions[distinctKeys[k]]) rows[i] = row;
                Insert(distinctKeys[k], row);
            }
        }
    }

    void Insert(UInt128 key, TextEmbedding value)
    {
        if (index.TryGetValue(key, out var existing)) recency.Remove(existing);
        index[key] = recency.AddFirst((key, value));
        while (index.Count > Capacity)
        {
            var oldest = recency.Last!;
            recency.RemoveLast();
            index.Remove(oldest.Value.Key);
        }
    }
}
