using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using CadStream.Catalog.Text;

namespace CadStream.Text;

/// <summary>
/// A caption set encoded once, for offline training and evaluation: each caption's token states and pooled
/// vector, kept in half precision (a relative error near 1e-3, far below what conditioning notices; half the
/// memory: 60,000 Fashion-MNIST captions of about 12 tokens take about 0.55 GB). Encoding a caption costs
/// about as much as a training step uses it for, so a set read many times (epochs, several models of one
/// experiment) is encoded once, and can be saved beside a run and loaded by the next one. Read-only once
/// built; thread-safe to read.
/// </summary>
public sealed class TokenBank
{
    static readonly byte[] Magic = "CADTOKB1"u8.ToArray();

    private readonly Half[] states;   // every caption's rows, one after another
    private readonly long[] offsets;  // first row of caption i
    private readonly int[] tokens;
    private readonly Half[] pooled;   // Count x Width

    public string EncoderIdentity { get; }
    /// <summary>SHA-256 (hex) of the captions, in order: which set this bank encodes.</summary>
    public string CaptionsKey { get; }
    public int Width { get; }
    public int Count => tokens.Length;

    TokenBank(string identity, string captionsKey, int width, Half[] states, long[] offsets, int[] tokens, Half[] pooled)
    {
        (EncoderIdentity, CaptionsKey, Width, this.states, this.offsets, this.tokens, this.pooled) = (identity, captionsKey, width, states, offsets, tokens, pooled);
    }

    /// <summary>The key of a caption set: SHA-256 over each caption's UTF-8 bytes, each preceded by its length.</summary>
    public static string KeyOf(IReadOnlyList<string> captions)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> len = stackalloc byte[4];
        foreach (var c in captions)
        {
            var bytes = Encoding.UTF8.GetBytes(c);
            BinaryPrimitives.WriteInt32LittleEndian(len, bytes.Length);
            sha.AppendData(len);
            sha.AppendData(bytes);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>Encodes the captions in batches of <paramref name="batch"/>; <paramref name="progress"/> hears the count done.</summary>
    public static TokenBank Build(ITextEncoder encoder, IReadOnlyList<string> captions, int batch = 256, Action<int>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(captions);
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), "batch must be >= 1");
        int n = captions.Count, width = encoder.Width;
        var tokens = new int[n];
        var pooled = new Half[(long)n * width];
        var chunks = new List<Half[]>();
        for (int start = 0; start < n; start += batch)
        {
            cancel.ThrowIfCancellationRequested();
            int take = Math.Min(batch, n - start);
            var encoded = encoder.Encode(new ListSlice(captions, start, take));
            int rows = encoded.TokenCounts.Sum();
            var chunk = new Half[(long)rows * width];
            long at = 0;
            for (int k = 0; k < take; k++)
            {
                int t = encoded.TokenCounts[k];
                tokens[start + k] = t;
                ToHalf(encoded.StatesOf(k)[..(t * width)], chunk.AsSpan((int)at, t * width));
                ToHalf(encoded.PooledOf(k), pooled.AsSpan((start + k) * width, width));
                at += (long)t * width;
            }
            chunks.Add(chunk);
            progress?.Invoke(start + take);
        }
        var offsets = new long[n];
        long row = 0;
        for (int i = 0; i < n; i++) { offsets[i] = row; row += tokens[i]; }
        var all = new Half[row * width];
        long pos = 0;
        foreach (var c in chunks) { c.CopyTo(all, pos); pos += c.Length; }
        return new TokenBank(encoder.Identity, KeyOf(captions), width, all, offsets, tokens, pooled);
    }

    /// <summary>
    /// The captions' bank from <paramref name="cacheDir"/> when an earlier run saved it for these captions and this
    /// encoder, else encoded now and saved there (offline training reads a caption set many times, and several
    /// runs read the same one). <paramref name="progress"/> hears a line now and then while it encodes;
    /// <paramref name="done"/> the last line (where the bank came from).
    /// </summary>
    public static TokenBank LoadOrBuild(ITextEncoder encoder, IReadOnlyList<string> captions, string cacheDir,
        Action<string>? progress = null, Action<string>? done = null, CancellationToken cancel = default)
    {
        var key = KeyOf(captions);
        Directory.CreateDirectory(cacheDir);
        var path = Path.Combine(cacheDir, $"captions-{key[..Math.Min(16, key.Length)]}.bank");
        if (TryLoad(path, encoder.Identity, key) is { } cached)
        {
            done?.Invoke($"captions: {captions.Count} token states from {path}");
            return cached;
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var bank = Build(encoder, captions, progress: n => progress?.Invoke(
            $"captions: encoding {n}/{captions.Count} through {encoder.Identity.Split(' ')[0]} ({n / Math.Max(clock.Elapsed.TotalSeconds, 1e-3):F0}/s)"), cancel: cancel);
        bank.Save(path);
        done?.Invoke($"captions: {captions.Count} encoded in {clock.Elapsed.TotalSeconds:F0} s ({captions.Count / clock.Elapsed.TotalSeconds:F0}/s), kept in {path}");
        return bank;
    }

    public int TokensOf(int i) => tokens[i];

    /// <summary>Caption i's token states, unpadded: TokensOf(i) x Width.</summary>
    public float[] StatesOf(int i)
    {
        var result = new float[tokens[i] * Width];
        ToFloat(states.AsSpan((int)(offsets[i] * Width), result.Length), result);
        return result;
    }

    /// <summary>Caption i's pooled vector (unit length up to rounding).</summary>
    public float[] PooledOf(int i)
    {
        var result = new float[Width];
        ToFloat(pooled.AsSpan(i * Width, Width), result);
        return result;
    }

    /// <summary>The captions at <paramref name="indices"/> padded to the longest: states [B, Length, Width] (zeros at padding) and mask [B, Length].</summary>
    public (float[] States, bool[] Mask, int Length) Gather(ReadOnlySpan<int> indices)
    {
        var rows = indices.ToArray();
        return TokenPadding.Pad(rows.Length, Width, k => tokens[rows[k]], (k, into) => ToFloat(states.AsSpan((int)(offsets[rows[k]] * Width), into.Length), into));
    }

    static void ToHalf(ReadOnlySpan<float> from, Span<Half> to)
    {
        for (int i = 0; i < from.Length; i++) to[i] = (Half)from[i];
    }

    static void ToFloat(ReadOnlySpan<Half> from, Span<float> to)
    {
        for (int i = 0; i < from.Length; i++) to[i] = (float)from[i];
    }

    /// <summary>
    /// Writes the bank: "CADTOKB1", the encoder identity, the captions key, width, count, token counts,
    /// pooled vectors, states, then a SHA-256 of all that. Written beside the target and renamed.
    /// </summary>
    public void Save(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        var tmp = path + ".tmp";
        using (var file = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        using (var hashing = new HashingStream(file))
        {
            using (var w = new BinaryWriter(hashing, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(Magic);
                w.Write(EncoderIdentity);
                w.Write(CaptionsKey);
                w.Write(Width);
                w.Write(Count);
                w.Write(MemoryMarshal.AsBytes(tokens.AsSpan()));
                WriteHalves(w, pooled);
                WriteHalves(w, states);
            }
            file.Write(hashing.Hash());
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>
    /// The bank saved at <paramref name="path"/> if it encodes these captions with this encoder; null when the
    /// file is missing or was made for other captions or another encoder. A damaged file is an error.
    /// </summary>
    public static TokenBank? TryLoad(string path, string encoderIdentity, string captionsKey)
    {
        if (!File.Exists(path)) return null;
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < Magic.Length + 32 || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new InvalidDataException($"'{path}' is not a token bank");
        if (!SHA256.HashData(bytes.AsSpan(0, bytes.Length - 32)).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 32)))
            throw new InvalidDataException($"token bank '{path}' is damaged: SHA-256 mismatch");
        using var r = new BinaryReader(new MemoryStream(bytes, Magic.Length, bytes.Length - 32 - Magic.Length), Encoding.UTF8);
        var identity = r.ReadString();
        var key = r.ReadString();
        if (identity != encoderIdentity || key != captionsKey) return null;
        int width = r.ReadInt32(), count = r.ReadInt32();
        var tokens = new int[count];
        r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(tokens.AsSpan()));
        var pooled = ReadHalves(r, (long)count * width);
        long rows = tokens.Sum(t => (long)t);
        var states = ReadHalves(r, rows * width);
        var offsets = new long[count];
        long row = 0;
        for (int i = 0; i < count; i++) { offsets[i] = row; row += tokens[i]; }
        return new TokenBank(identity, key, width, states, offsets, tokens, pooled);
    }

    static void WriteHalves(BinaryWriter w, Half[] values)
    {
        var bytes = MemoryMarshal.AsBytes(values.AsSpan());
        for (int at = 0; at < bytes.Length; at += 1 << 24) w.Write(bytes[at..Math.Min(bytes.Length, at + (1 << 24))]);
    }

    static Half[] ReadHalves(BinaryReader r, long count)
    {
        var values = new Half[count];
        var bytes = MemoryMarshal.AsBytes(values.AsSpan());
        for (int at = 0; at < bytes.Length; at += 1 << 24) r.BaseStream.ReadExactly(bytes[at..Math.Min(bytes.Length, at + (1 << 24))]);
        return values;
    }

    /// <summary>A window of a list without copying it.</summary>
    sealed class ListSlice(IReadOnlyList<string> list, int start, int count) : IReadOnlyList<string>
    {
        public string this[int index] => (uint)index < (uint)count ? list[start + index] : throw new ArgumentOutOfRangeException(nameof(index));
        public int Count => count;
        public IEnumerator<string> GetEnumerator() { for (int i = 0; i < count; i++) yield return list[start + i]; }
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>Passes writes through and hashes them.</summary>
    sealed class HashingStream(Stream inner) : Stream
    {
        private readonly IncrementalHash sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        public byte[] Hash() => sha.GetHashAndReset();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer) { sha.AppendData(buffer); inner.Write(buffer); }
        public override void Flush() => inner.Flush();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        protected override void Dispose(bool disposing) { if (disposing) sha.Dispose(); base.Dispose(disposing); }
    }
}
