using System.Globalization;
using System.Text;
using System.Text.Json;
using CsCheck;

namespace CadStream.Tests.TestKit;

/// <summary>
/// Generators of hostile bytes for the property tests of the HTTP API and the record decoder: JSON of any
/// shape and depth, numbers JSON allows and ones it does not (1e308, 1e309, -0, NaN), strings with escapes of
/// half a surrogate pair, bytes that are not UTF-8, long strings, deep nesting, raw random bytes, and
/// mutations (a byte changed, cut short, bytes that are not UTF-8 put in) of whatever another generator made.
/// </summary>
public static class HostileInput
{
    // Declared first: the generators below are static fields too, initialised in order.
    public static readonly string[] SampleFields =
        ["label", "prompt", "negativePrompt", "coherence", "guidance", "steps", "sampler", "seed", "count", "format", "snapshotVersion"];

    public static readonly string[] RecordFields =
        ["id", "model", "image_png", "image_u8", "segmap_png", "width", "height", "channels", "label", "coherence", "score", "caption"];

    /// <summary>The UTF-8 bytes of a string.</summary>
    public static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    static byte[] Join(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    /// <summary>Byte sequences that are not UTF-8: a stray continuation, an overlong form, a surrogate, a cut-short character, bytes never used.</summary>
    public static readonly Gen<byte[]> NotUtf8 = Gen.OneOf<byte[]>(
        [0xFF], [0xFE], [0xFF, 0xFE, 0xFD], [0x80], [0xBF, 0xBF], [0xC0, 0x80], [0xC1, 0xBF], [0xC3, 0x28], [0xE2, 0x82],
        [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xF0, 0x28, 0x8C, 0x28], [0xF4, 0x90, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80]);

    /// <summary>Number tokens: ordinary, huge, tiny, negative zero, past double's range, and ones JSON does not allow.</summary>
    public static readonly Gen<byte[]> Number = Gen.Frequency<string>(
        (4, Gen.Int[-3, 12].Select(i => i.ToString(CultureInfo.InvariantCulture))),
        (2, Gen.Long.Select(l => l.ToString(CultureInfo.InvariantCulture))),
        (2, Gen.Double.Select(d => double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : "1e400")),
        (2, Gen.Double.Unit.Select(d => d.ToString("R", CultureInfo.InvariantCulture))),
        (3, Gen.OneOf("1e308", "-1e308", "1e309", "-1e309", "1e-400", "-0", "-0.0", "0e0", "1E+2", "0.5e1", "3.0", "3.5", "1e15", "9e15",
            "123456789012345678901234567890", "9223372036854775807", "9223372036854775808", "-9223372036854775809", "2147483648",
            "4.9e-324", "1.7976931348623157e308", "0.1e1000")),
        // Not JSON numbers at all: the parser must refuse them, not the code after it.
        (1, Gen.OneOf("NaN", "-NaN", "Infinity", "-Infinity", "+1", "01", ".5", "1.", "0x10", "1e", "--1", "1_000", "١")))
        .Select(U);

    /// <summary>Words the API and the records know (class names, samplers, formats) and ones they do not.</summary>
    static readonly Gen<string> Word = Gen.OneOf("Sneaker", "sneaker", "T-shirt/top", "tshirttop", "Ankle boot", "bag", "Dragon", "", " ", "3", "-1", "99999999999",
        "ddim", "ddpm", "dpm++", "DPM++", "euler", "png", "json", " JSON ", "gif", "fashion-cad", "fashion-text", "..%2F..%2Fetc", "null", "true",
        "dark ankle boots for sale", "a photo of some sneakers", "😀", "\u0000", "\u202e", "\ufffd");

    /// <summary>A JSON string literal: ordinary text, any Unicode, escapes (half surrogate pairs among them), bytes that are not UTF-8, long text, bad escapes.</summary>
    public static readonly Gen<byte[]> String = Gen.Frequency<byte[]>(
        (4, Word.Select(w => U(JsonSerializer.Serialize(w)))),
        (2, Gen.String.Select(s => U(JsonSerializer.Serialize(s)))),
        (2, Gen.OneOf(@"\ud800", @"\udfff", @"\ud83d", @"\ude00x", @"\ud83d\ude00", @"\u0000", @"\\", @"\/", @"\""", @"\b\f\n\r\t")
            .Select(e => U($"\"{e}\""))),
        (1, Gen.Select(Word, NotUtf8, Word, (a, bad, b) => Join("\""u8.ToArray(), U(a), bad, U(b), "\""u8.ToArray()))),
        (1, Gen.Int[100, 20_000].Select(n => U("\"" + new string('x', n) + "\""))),
        // Not JSON strings: the parser must refuse them.
        (1, Gen.OneOf(@"""\x41""", @"""\u12""", "\"unterminated", "'single'", "\"tab\there\"", "\"line\nbreak\"").Select(U)));

    static readonly Gen<byte[]> Scalar = Gen.Frequency<byte[]>(
        (3, Number), (3, String), (1, Gen.OneOf("true", "false", "null").Select(U)));

    /// <summary>A property name: one the API or the records read, or any other.</summary>
    static readonly Gen<byte[]> Name = Gen.Frequency<byte[]>(
        (3, Gen.OneOf(SampleFields.Concat(RecordFields).ToArray()).Select(n => U(JsonSerializer.Serialize(n)))),
        (1, String));

    /// <summary>Any JSON value, nested up to a few levels, and at times not quite JSON (a missing comma, a trailing one).</summary>
    public static readonly Gen<byte[]> Value = Gen.Recursive<byte[]>((depth, self) => depth >= 4
        ? Scalar
        : Gen.Frequency<byte[]>(
            (4, Scalar),
            (1, self.Array[0, 5].Select(items => Join("["u8.ToArray(), Join(items.Select((x, i) => i == 0 ? x : Join(","u8.ToArray(), x)).ToArray()), "]"u8.ToArray()))),
            (2, Gen.Select(Name, self).Array[0, 6].Select(members => Object(members))),
            (1, Gen.Select(self, self, (a, b) => Join("["u8.ToArray(), a, " "u8.ToArray(), b, ",]"u8.ToArray())))));

    /// <summary>An object of these members; a name may come twice.</summary>
    public static byte[] Object((byte[] Name, byte[] Value)[] members) =>
        Join("{"u8.ToArray(), Join(members.Select((m, i) => Join(i == 0 ? [] : ", "u8.ToArray(), m.Name, ": "u8.ToArray(), m.Value)).ToArray()), "}"u8.ToArray());

    /// <summary>An object of named members whose values are already JSON.</summary>
    public static byte[] Object(IEnumerable<(string Name, byte[] Value)> members) =>
        Object(members.Select(m => (U(JsonSerializer.Serialize(m.Name)), m.Value)).ToArray());

    /// <summary>Nesting far past any parser's depth limit, closed or not: [[[[..., {"a":{"a":..., [{[{...</summary>
    public static readonly Gen<byte[]> Deep = Gen.Select(Gen.Int[17, 100_000], Gen.Int[0, 2], Gen.Bool, (n, kind, closed) =>
    {
        var (open, close) = kind switch { 0 => ("[", "]"), 1 => ("{\"a\":", "}"), _ => ("[{\"a\":", "}]") };
        var sb = new StringBuilder();
        for (int i = 0; i < n; i++) sb.Append(open);
        sb.Append('1');
        if (closed) for (int i = 0; i < n; i++) sb.Append(close);
        return U(sb.ToString());
    });

    /// <summary>Raw bytes, any at all.</summary>
    public static readonly Gen<byte[]> Bytes = Gen.Byte.Array[0, 300];

    /// <summary>What <paramref name="gen"/> makes, damaged: a byte changed, cut short, bytes that are not UTF-8 put in, a part repeated.</summary>
    public static Gen<byte[]> Mutated(Gen<byte[]> gen) => Gen.Select(gen, Gen.Int[0, 4], Gen.Int.NonNegative, Gen.Byte, NotUtf8, (b, kind, at, value, bad) =>
    {
        if (b.Length == 0) return bad;
        int i = at % b.Length;
        switch (kind)
        {
            case 0: { var c = (byte[])b.Clone(); c[i] = value; return c; }
            case 1: return b[..i];
            case 2: return Join(b[..i], bad, b[i..]);
            case 3: { var c = (byte[])b.Clone(); c[i] ^= (byte)(1 << (value % 8)); return c; }
            default: return Join(b[..i], b[(i / 2)..]);
        }
    });
}
