using CadStream.Text;
using CadStream.Catalog.Text;

namespace CadStream.Tests.Text;

[Collection(MiniLmFixture.Name)]
public sealed class CachedTextEncoderTests(MiniLmFixture fixture)
{
    static void AssertSameRows(TextEncoding expected, int i, TextEncoding actual, int j)
    {
        Assert.Equal(expected.TokenCounts[i], actual.TokenCounts[j]);
        Assert.Equal(expected.PooledOf(i).ToArray(), actual.PooledOf(j).ToArray());
        int n = expected.TokenCounts[i] * expected.Width;
        Assert.Equal(expected.StatesOf(i)[..n].ToArray(), actual.StatesOf(j)[..n].ToArray());
    }

    [Fact]
    public void Hits_DoNotReachTheEncoder_AndMissesGoInOneBatchOfDistinctCaptions()
    {
        var counting = new CountingEncoder(fixture.Encoder);
        var cached = new CachedTextEncoder(counting, capacity: 100);

        var first = cached.Encode(["ankle boots", "a tote bag", "ankle boots"]);
        Assert.Single(counting.Calls);
        Assert.Equal(["ankle boots", "a tote bag"], counting.Calls[0]);
        AssertSameRows(first, 0, first, 2);

        var again = cached.Encode(["a tote bag", "ankle boots"]);
        Assert.Single(counting.Calls);
        AssertSameRows(first, 1, again, 0);
        AssertSameRows(first, 0, again, 1);

        var mixed = cached.Encode(["ankle boots", "a pale sandal", "a tote bag", "IMG_2041.jpg"]);
        Assert.Equal(2, counting.Calls.Count);
        Assert.Equal(["a pale sandal", "IMG_2041.jpg"], counting.Calls[1]);
        var direct = fixture.Encoder.Encode(["ankle boots", "a pale sandal", "a tote bag", "IMG_2041.jpg"]);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(direct.TokenCounts[i], mixed.TokenCounts[i]);
            for (int j = 0; j < 384; j++) Assert.Equal(direct.PooledOf(i)[j], mixed.PooledOf(i)[j], 1e-4);
        }
        Assert.Equal(direct.Length, mixed.Length);
        Assert.Equal(2, cached.EncodeCalls);
        Assert.Equal(4, cached.CaptionsEncoded);
        Assert.Equal(5, cached.Misses);  // ankle boots twice and a tote bag, then two new ones
        Assert.Equal(4, cached.Hits);
        Assert.Equal(fixture.Encoder.Identity, cached.Identity);
    }

    [Fact]
    public void TheLeastRecentlyUsedCaption_IsEvictedAtCapacity()
    {
        var counting = new CountingEncoder(fixture.Encoder);
        var cached = new CachedTextEncoder(counting, capacity: 2);
        cached.Encode(["coat"]);
        cached.Encode(["dress"]);
        cached.Encode(["coat"]);          // coat is now the most recent
        cached.Encode(["sneaker"]);       // evicts dress
        Assert.Equal(2, cached.Count);
        Assert.Equal(3, counting.Calls.Count);
        cached.Encode(["coat", "sneaker"]);
        Assert.Equal(3, counting.Calls.Count);
        cached.Encode(["dress"]);
        Assert.Equal(4, counting.Calls.Count);
        Assert.Equal(["dress"], counting.Calls[3]);
        Assert.Throws<ArgumentOutOfRangeException>(() => new CachedTextEncoder(counting, capacity: 0));
    }

    [Fact]
    public void ConcurrentCallers_GetCorrectRows_AndEachCaptionIsEncodedOnce()
    {
        var counting = new CountingEncoder(fixture.Encoder);
        var cached = new CachedTextEncoder(counting, capacity: 1000);
        var pool = Enumerable.Range(0, 40).Select(i => $"caption number {i} about a bag").ToArray();
        var results = new (string[] Captions, TextEncoding Encoding)[8];
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, t =>
        {
            var rng = new Random(t);
            var captions = Enumerable.Range(0, 12).Select(_ => pool[rng.Next(pool.Length)]).ToArray();
            results[t] = (captions, cached.Encode(captions));
        });
        var encodedOnce = counting.Calls.SelectMany(c => c).ToList();
        Assert.Equal(encodedOnce.Count, encodedOnce.Distinct().Count());
        Assert.Equal(encodedOnce.Count, cached.CaptionsEncoded);
        var reference = fixture.Encoder.Encode(pool);
        foreach (var (captions, encoding) in results)
            for (int i = 0; i < captions.Length; i++)
            {
                int k = Array.IndexOf(pool, captions[i]);
                for (int j = 0; j < 384; j++) Assert.Equal(reference.PooledOf(k)[j], encoding.PooledOf(i)[j], 1e-4);
            }
    }

    [Fact]
    public void CaptionKey_IsStable_AndDistinguishesCaptions()
    {
        Assert.Equal(CachedTextEncoder.CaptionKey("ankle boots"), CachedTextEncoder.CaptionKey("ankle boots"));
        Assert.NotEqual(CachedTextEncoder.CaptionKey("ankle boots"), CachedTextEncoder.CaptionKey("ankle boot"));
        // SHA-256("abc") starts ba7816bf 8f01cfea 414140de 5dae2223: the key is its first 16 bytes, little-endian.
        Assert.Equal(UInt128.Parse("2322ae5dde404141eacf018fbf1678ba", System.Globalization.NumberStyles.HexNumber), CachedTextEncoder.CaptionKey("abc"));
    }
}
