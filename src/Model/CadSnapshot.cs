using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CadStream.Model.Networks;
using TorchSharp;
using static TorchSharp.torch;

namespace CadStream.Model;

/// <summary>Raised when bytes are not a valid snapshot (wrong magic, truncated, checksum mismatch).</summary>
public sealed class SnapshotFormatException(string message) : Exception(message);

/// <summary>
/// One self-describing blob: the model's <see cref="ModelSpec"/>, counters, EMA weights (what is
/// served) and, optionally, raw weights and optimiser state to resume training. Layout:
/// "CADSNAP1" | int32 header length | JSON header | sections | SHA-256 of all bytes before it.
/// Header format 2 holds the spec; format 1 (older snapshots) held the network settings under
/// another name and is still read.
/// </summary>
public sealed record CadSnapshot(
    ModelSpec Spec,
    long Version,
    long Steps,
    long SamplesSeen,
    long SkippedSteps,
    long CreatedUnixMs,
    byte[] EmaWeights,
    byte[]? RawWeights = null,
    byte[]? OptimizerState = null)
{
    static readonly byte[] Magic = "CADSNAP1"u8.ToArray();
    const int HashLength = 32;
    const int MaxHeaderBytes = 1 << 20;

    static readonly JsonSerializerOptions Json = new() { WriteIndented = false, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    const int FormatVersion = 2;

    private sealed record Header(int FormatVersion, ModelSpec? Spec, long Version, long Steps, long SamplesSeen,
        long SkippedSteps, long CreatedUnixMs, long EmaBytes, long RawBytes, long OptimizerBytes, LegacyConfig? Config = null);

    /// <summary>Format 1's network settings; only read, mapped onto a <see cref="ModelSpec"/>.</summary>
    private sealed record LegacyConfig(string Kind, string[] ClassNames, int ImageSize, int Channels, int PaddedSize, int PatchSize,
        int BaseChannels, int[] ChannelMultipliers, int ResBlocksPerLevel, bool MidAttention, int AttentionHeads, int NormGroups,
        double Dropout, int ExtraInputChannels, string Schedule, TrainingMode Mode, double FilterThreshold, double CfgDropout,
        double DefaultGuidance)
    {
        public ModelSpec ToSpec() => new()
        {
            Kind = Kind, Classes = ClassNames, ImageSize = ImageSize, Channels = Channels, PaddedSize = PaddedSize, PatchSize = PatchSize,
            Width = BaseChannels, ChannelMultipliers = ChannelMultipliers, ResBlocksPerLevel = ResBlocksPerLevel, MidAttention = MidAttention,
            AttentionHeads = AttentionHeads, NormGroups = NormGroups, Dropout = Dropout, ExtraInputChannels = ExtraInputChannels,
            Schedule = Schedule, Mode = Mode, FilterThreshold = FilterThreshold, CfgDropout = CfgDropout, Guidance = DefaultGuidance,
        };
    }

    public byte[] ToBytes()
    {
        var header = JsonSerializer.SerializeToUtf8Bytes(new Header(FormatVersion, Spec, Version, Steps, SamplesSeen, SkippedSteps,
            CreatedUnixMs, EmaWeights.Length, RawWeights?.Length ?? -1, OptimizerState?.Length ?? -1), Json);
        using var ms = new MemoryStream();
        ms.Write(Magic);
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(len, header.Length);
        ms.Write(len);
        ms.Write(header);
        ms.Write(EmaWeights);
        if (RawWeights is not null) ms.Write(RawWeights);
        if (OptimizerState is not null) ms.Write(OptimizerState);
        var hash = SHA256.HashData(ms.GetBuffer().AsSpan(0, (int)ms.Length));
        ms.Write(hash);
        return ms.ToArray();
    }

    /// <summary>Hex SHA-256 of the whole blob, as published next to it (docs/interfaces.md, "Redis").</summary>
    public static string Sha256Hex(ReadOnlySpan<byte> blob) => Convert.ToHexStringLower(SHA256.HashData(blob));

    public static CadSnapshot FromBytes(byte[] bytes)
    {
        if (bytes.Length < Magic.Length + 4 + HashLength || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new SnapshotFormatException("not a CadStream snapshot (bad magic or too short)");
        int bodyLength = bytes.Length - HashLength;
        var hash = SHA256.HashData(bytes.AsSpan(0, bodyLength));
        if (!hash.AsSpan().SequenceEqual(bytes.AsSpan(bodyLength)))
            throw new SnapshotFormatException("snapshot is corrupted: SHA-256 checksum mismatch");
        int pos = Magic.Length;
        int headerLength = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(pos));
        pos += 4;
        if (headerLength <= 0 || headerLength > MaxHeaderBytes || pos + headerLength > bodyLength)
            throw new SnapshotFormatException("snapshot header length is invalid");
        Header h;
        try { h = JsonSerializer.Deserialize<Header>(bytes.AsSpan(pos, headerLength), Json) ?? throw new JsonException("empty header"); }
        catch (JsonException e) { throw new SnapshotFormatException($"snapshot header is not valid: {e.Message}"); }
        var spec = h.FormatVersion switch
        {
            FormatVersion => h.Spec,
            1 => h.Config?.ToSpec(),
            _ => throw new SnapshotFormatException($"snapshot format {h.FormatVersion} is not supported (expected {FormatVersion}, or 1)"),
        } ?? throw new SnapshotFormatException("snapshot header has no model spec");
        pos += headerLength;
        byte[]? Take(long n)
        {
            if (n < 0) return null;
            if (pos + n > bodyLength) throw new SnapshotFormatException("snapshot is truncated");
            var part = bytes.AsSpan(pos, (int)n).ToArray();
            pos += (int)n;
            return part;
        }
        var ema = Take(h.EmaBytes) ?? throw new SnapshotFormatException("snapshot has no EMA weights");
        var raw = Take(h.RawBytes);
        var opt = Take(h.OptimizerBytes);
        if (pos != bodyLength) throw new SnapshotFormatException("snapshot has trailing bytes");
        return new CadSnapshot(spec, h.Version, h.Steps, h.SamplesSeen, h.SkippedSteps, h.CreatedUnixMs, ema, raw, opt);
    }

    public void Save(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        // Write then rename so a reader never sees half a snapshot.
        var tmp = path + ".tmp";
        File.WriteAllBytes(tmp, ToBytes());
        File.Move(tmp, path, overwrite: true);
    }

    public static CadSnapshot Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"snapshot file '{path}' does not exist", path);
        return FromBytes(File.ReadAllBytes(path));
    }

    /// <summary>A denoiser with the EMA weights, ready for sampling, on the given device.</summary>
    public CadDenoiser CreateDenoiser(Device device)
    {
        var model = new CadDenoiser(Spec);
        LoadEmaInto(model);
        model.to(device);
        model.eval();  // sampling: dropout off
        return model;
    }

    public void LoadEmaInto(nn.Module module) => LoadModule(module, EmaWeights);
    public void LoadRawInto(nn.Module module) => LoadModule(module, RawWeights ?? throw new InvalidOperationException("snapshot holds no raw weights"));

    static void LoadModule(nn.Module module, byte[] weights)
    {
        // Module.load closes the stream it is given and copies into the existing parameters,
        // whatever their device, so optimiser references stay valid.
        module.load(new MemoryStream(weights, writable: false));
    }

    public static byte[] ModuleBytes(nn.Module module)
    {
        var ms = new MemoryStream();
        module.save(ms);  // closes ms; ToArray still works on a closed MemoryStream
        return ms.ToArray();
    }
}
