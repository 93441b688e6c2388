using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace CadStream.Records.Coherence;

/// <summary>
/// What a raw alignment score (a record's <c>score</c>: a CLIP score, the built-in caption agreement)
/// means as coherence, the way the CAD reference code bins CLIP scores for text: K equal-frequency
/// (quantile) bins whose edges are estimated once from the first scores of a stream and then frozen,
/// end edges forced to 0 and 1, and c = (bin - 1) / (K - 1) for the 1-based bin.
/// <para>
/// Binning follows the reference's torch.bucketize(x, edges) with right = false: a score x falls in
/// bin i when edges[i-1] &lt; x &lt;= edges[i], so a score equal to an edge goes to the lower bin, and
/// where ties make several edges equal, the tied score lands in the lowest of those bins (the bins
/// between stay empty). The score is first divided by <see cref="ScoreScale"/> (the reference divides
/// CLIP scores by 100). One deliberate difference: the reference gives bin 0 (c = -1/(K-1)) to scores
/// at or below 0 and bin K+1 (c = K/(K-1)) to scores above 1; here they go to bins 1 and K, so c stays
/// in [0, 1].
/// </para>
/// Immutable. Stored in every snapshot (JSON or the compact binary form) so that serving and a
/// rollback know what c meant when the model learned it.
/// </summary>
public sealed class CoherenceBins
{
    public const int DefaultCount = 8;
    /// <summary>Layout version of <see cref="ToJson"/> and <see cref="ToBytes"/>.</summary>
    public const int FormatVersion = 1;
    static ReadOnlySpan<byte> Magic => "CADB"u8;

    private readonly double[] edges;

    /// <summary>Which table of a stream this is: 1 for the first frozen table, 0 for a provisional estimate.</summary>
    public int Version { get; }
    /// <summary>Number of bins K.</summary>
    public int Count => edges.Length - 1;
    /// <summary>The K + 1 edges in score / <see cref="ScoreScale"/> units: 0, the K - 1 inner quantiles, 1.</summary>
    public IReadOnlyList<double> Edges => edges;
    /// <summary>Raw scores are divided by this before binning (100 for CLIP scores on a 0..100 scale).</summary>
    public double ScoreScale { get; }
    /// <summary>How many scores the inner edges were estimated from.</summary>
    public long SampleCount { get; }
    /// <summary>SHA-256 (hex) of what decides a score's coherence: K, the scale and the edges. Equal hashes, equal meaning.</summary>
    public string ContentHash { get; }

    public CoherenceBins(IReadOnlyList<double> edges, double scoreScale = 1, long sampleCount = 0, int version = 1)
    {
        ArgumentNullException.ThrowIfNull(edges);
        if (edges.Count < 3) throw new ArgumentException($"need at least 2 bins (3 edges), got {edges.Count} edges");
        if (!double.IsFinite(scoreScale) || scoreScale <= 0) throw new ArgumentException($"score scale must be a positive number, got {scoreScale}");
        if (sampleCount < 0) throw new ArgumentException($"sample count must be >= 0, got {sampleCount}");
        if (version < 0) throw new ArgumentException($"version must be >= 0, got {version}");
        if (edges[0] != 0 || edges[^1] != 1) throw new ArgumentException($"the end edges must be 0 and 1, got {edges[0]} and {edges[^1]}");
        for (int i = 1; i < edges.Count; i++)
            if (!double.IsFinite(edges[i]) || edges[i] < edges[i - 1])
                throw new ArgumentException($"edges must be finite and non-decreasing; edge {i} is {edges[i]} after {edges[i - 1]}");
        this.edges = edges.ToArray();
        ScoreScale = scoreScale;
        SampleCount = sampleCount;
        Version = version;
        ContentHash = Convert.ToHexStringLower(SHA256.HashData(ContentBytes()));
    }

    /// <summary>
    /// Bins from a sample of raw scores: the inner edges are the j/K quantiles of score / scale with
    /// linear interpolation between order statistics (torch.quantile's default: position j/K * (n - 1)),
    /// clamped to [0, 1] so the edges stay ordered; the end edges are 0 and 1.
    /// </summary>
    public static CoherenceBins Estimate(IReadOnlyList<double> scores, int count = DefaultCount, double scoreScale = 1, int version = 1)
    {
        ArgumentNullException.ThrowIfNull(scores);
        if (count < 2) throw new ArgumentException($"need at least 2 bins, got {count}");
        if (scores.Count == 0) throw new ArgumentException("need at least one score to estimate bin edges");
        if (!double.IsFinite(scoreScale) || scoreScale <= 0) throw new ArgumentException($"score scale must be a positive number, got {scoreScale}");
        var x = new double[scores.Count];
        for (int i = 0; i < x.Length; i++)
        {
            if (!double.IsFinite(scores[i])) throw new ArgumentException($"score {i} is {scores[i]}; scores must be finite");
            x[i] = scores[i] / scoreScale;
        }
        Array.Sort(x);
        var e = new double[count + 1];
        for (int j = 1; j < count; j++)
        {
            double h = (double)j / count * (x.Length - 1);
            int lo = (int)Math.Floor(h);
            int hi = Math.Min(lo + 1, x.Length - 1);
            e[j] = Math.Clamp(x[lo] + (h - lo) * (x[hi] - x[lo]), 0, 1);
        }
        e[0] = 0;
        e[count] = 1;
        return new CoherenceBins(e, scoreScale, x.Length, version);
    }

    /// <summary>The 1-based bin of a raw score: the first i with score / scale &lt;= edges[i], kept within 1..K.</summary>
    public int Bin(double score)
    {
        if (double.IsNaN(score)) throw new ArgumentException("score is NaN");
        double x = score / ScoreScale;
        // Lower bound: first edge >= x (bucketize with right = false).
        int lo = 0, hi = edges.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (edges[mid] < x) lo = mid + 1; else hi = mid;
        }
        return Math.Clamp(lo, 1, Count);
    }

    /// <summary>c = (bin - 1) / (K - 1) in [0, 1].</summary>
    public double Coherence(double score) => CoherenceOfBin(Bin(score));

    public double CoherenceOfBin(int bin)
    {
        if (bin < 1 || bin > Count) throw new ArgumentOutOfRangeException(nameof(bin), $"bin {bin} is outside 1..{Count}");
        return (bin - 1) / (double)(Count - 1);
    }

    /// <summary>Same K, scale and edges (version and sample count aside).</summary>
    public bool SameMeaning(CoherenceBins other) => other is not null && ContentHash == other.ContentHash;

    public override string ToString() =>
        $"coherence bins v{Version}: {Count} bins, scale {ScoreScale}, edges [{string.Join(", ", edges.Select(e => e.ToString("G6", System.Globalization.CultureInfo.InvariantCulture)))}], {SampleCount} scores, sha256 {ContentHash[..12]}";

    // K, scale and edges, little-endian: the bytes the content hash covers.
    byte[] ContentBytes()
    {
        var b = new byte[4 + 8 + 8 * edges.Length];
        BinaryPrimitives.WriteInt32LittleEndian(b, Count);
        BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(4), ScoreScale);
        for (int i = 0; i < edges.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(12 + 8 * i), edges[i]);
        return b;
    }

    /// <summary>
    /// Compact form: "CADB" | u8 format | i32 version | i64 sample count | K, scale and edges (the
    /// hashed content) | 32-byte SHA-256 of that content. Little-endian.
    /// </summary>
    public byte[] ToBytes()
    {
        var content = ContentBytes();
        var b = new byte[4 + 1 + 4 + 8 + content.Length + 32];
        Magic.CopyTo(b);
        b[4] = FormatVersion;
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(5), Version);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(9), SampleCount);
        content.CopyTo(b.AsSpan(17));
        Convert.FromHexString(ContentHash).CopyTo(b.AsSpan(17 + content.Length));
        return b;
    }

    public static CoherenceBins FromBytes(ReadOnlySpan<byte> b)
    {
        const int fixedPart = 4 + 1 + 4 + 8 + 4 + 8;
        if (b.Length < fixedPart + 32 || !b[..4].SequenceEqual(Magic))
            throw new InvalidDataException($"not a coherence bin table ({b.Length} bytes, no CADB magic)");
        if (b[4] != FormatVersion) throw new InvalidDataException($"coherence bin table format {b[4]} is not supported (this build reads {FormatVersion})");
        int version = BinaryPrimitives.ReadInt32LittleEndian(b[5..]);
        long samples = BinaryPrimitives.ReadInt64LittleEndian(b[9..]);
        int count = BinaryPrimitives.ReadInt32LittleEndian(b[17..]);
        if (count < 2 || count > 1_000_000 || b.Length != fixedPart + 8L * (count + 1) + 32)
            throw new InvalidDataException($"coherence bin table of {b.Length} bytes does not hold {count} bins");
        double scale = BinaryPrimitives.ReadDoubleLittleEndian(b[21..]);
        var e = new double[count + 1];
        for (int i = 0; i < e.Length; i++) e[i] = BinaryPrimitives.ReadDoubleLittleEndian(b[(29 + 8 * i)..]);
        var bins = Create(e, scale, samples, version);
        var stored = Convert.ToHexStringLower(b[^32..]);
        if (stored != bins.ContentHash) throw new InvalidDataException($"coherence bin table checksum mismatch (stored {stored[..12]}, content {bins.ContentHash[..12]})");
        return bins;
    }

    /// <summary>One JSON object: format, version, count, scoreScale, sampleCount, edges, sha256.</summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("format", FormatVersion);
            w.WriteNumber("version", Version);
            w.WriteNumber("count", Count);
            w.WriteNumber("scoreScale", ScoreScale);
            w.WriteNumber("sampleCount", SampleCount);
            w.WriteStartArray("edges");
            foreach (var e in edges) w.WriteNumberValue(e); // shortest round-trip form
            w.WriteEndArray();
            w.WriteString("sha256", ContentHash);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    public static CoherenceBins FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException("coherence bin table JSON is not an object");
            JsonElement Field(string name) => root.TryGetProperty(name, out var v) ? v : throw new InvalidDataException($"coherence bin table JSON has no '{name}'");
            int format = Field("format").GetInt32();
            if (format != FormatVersion) throw new InvalidDataException($"coherence bin table format {format} is not supported (this build reads {FormatVersion})");
            var e = Field("edges").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            int count = Field("count").GetInt32();
            if (count != e.Length - 1) throw new InvalidDataException($"coherence bin table says {count} bins but has {e.Length} edges");
            var bins = Create(e, Field("scoreScale").GetDouble(), Field("sampleCount").GetInt64(), Field("version").GetInt32());
            var stored = Field("sha256").GetString();
            if (stored != bins.ContentHash) throw new InvalidDataException($"coherence bin table checksum mismatch (stored {stored}, content {bins.ContentHash})");
            return bins;
        }
        catch (JsonException e) { throw new InvalidDataException($"coherence bin table JSON is invalid: {e.Message}", e); }
        catch (FormatException e) { throw new InvalidDataException($"coherence bin table JSON has a wrong value type: {e.Message}", e); }
        catch (InvalidOperationException e) { throw new InvalidDataException($"coherence bin table JSON has a wrong value type: {e.Message}", e); }
    }

    static CoherenceBins Create(double[] e, double scale, long samples, int version)
    {
        try { return new CoherenceBins(e, scale, samples, version); }
        catch (ArgumentException x) { throw new InvalidDataException($"invalid coherence bin table: {x.Message}", x); }
    }
}
