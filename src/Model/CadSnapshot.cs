using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using CadStream.Catalog;
using CadStream.Catalog.Conditions;
using CadStream.Model.Networks;
using TorchSharp;
using static TorchSharp.torch;

namespace CadStream.Model;

/// <summary>Raised when bytes are not a valid snapshot (wrong magic, truncated, checksum mismatch).</summary>
public sealed class SnapshotFormatException(string message) : Exception(message);

/// <summary>
/// Raised when a text model's snapshot is loaded under a text encoder other than the one it learnt from:
/// its token states would mean nothing to the network.
/// </summary>
public sealed class TextEncoderMismatchException(string message) : Exception(message);

/// <summary>
/// One self-describing blob: the model's <see cref="ModelSpec"/>, counters, EMA weights (what is
/// served) and, optionally, raw weights and optimiser state to resume training; the identity of the
/// text encoder a text model learnt from, and the coherence bin table (JSON, opaque here) that said
/// what c meant while it learnt. Layout:
/// "CADSNAP1" | int32 header length | JSON header | sections | SHA-256 of all bytes before it.
/// Header format 3 adds the text encoder and the bin table to format 2's spec; format 2 and format 1
/// (which held the network settings under another name) are still read.
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
    byte[]? OptimizerState = null,
    string? TextEncoder = null,
    string? CoherenceBins = null)
{
    static readonly byte[] Magic = "CADSNAP1"u8.ToArray();
    const int HashLength = 32;
    const int MaxHeaderBytes = 1 << 20;

    static readonly JsonSerializerOptions Json = new() { WriteIndented = false, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    const int FormatVersion = 3;

    private sealed record Header(int FormatVersion, ModelSpec? Spec, long Version, long Steps, long SamplesSeen,
        long SkippedSteps, long CreatedUnixMs, long EmaBytes, long RawBytes, long OptimizerBytes, LegacyConfig? Config = null,
        string? TextEncoder = null, string? CoherenceBins = null);

    /// <summary>Format 1's network settings; only read, mapped onto a <see cref="ModelSpec"/>.</summary>
    private sealed record LegacyConfig(string Kind, string[] ClassNames, int ImageSize, int Channels, int PaddedSize, int PatchSize,
        int BaseChannels, int[] ChannelMultipliers, int ResBlocksPerLevel, bool MidAttention, int AttentionHeads, int NormGroups,
        double Dropout, int ExtraInputChannels, string Schedule, TrainingMode Mode, double FilterThreshold, double CfgDropout,
        double DefaultGuidance)
    {
        public ModelSpec ToSpec() => new()
        {
            Kind = ConditionKinds.Parse(Kind), Classes = ClassNames, ImageSize = ImageSize, Channels = Channels, PaddedSize = PaddedSize, PatchSize = PatchSize,
            Width = BaseChannels, ChannelMultipliers = ChannelMultipliers, ResBlocksPerLevel = ResBlocksPerLevel, MidAttention = MidAttention,
            AttentionHeads = AttentionHeads, NormGroups = NormGroups, Dropout = Dropout, ExtraInputChannels = ExtraInputChannels,
            Schedule = Schedule, Mode = Mode, FilterThreshold = FilterThreshold, CfgDropout = CfgDropout, Guidance = DefaultGuidance,
        };
    }

    public byte[] ToBytes()
    {
        if (Spec.Rules().ReadsText && string.IsNullOrEmpty(TextEncoder))
            throw new InvalidOperationException($"model {Spec.Id} learns from text: its snapshot must name the text encoder (CadTrainer.TextEncoder)");
        var header = JsonSerializer.SerializeToUtf8Bytes(new Header(FormatVersion, Spec, Version, Steps, SamplesSeen, SkippedSteps,
            CreatedUnixMs, EmaWeights.Length, RawWeights?.Length ?? -1, OptimizerState?.Length ?? -1, null, TextEncoder, CoherenceBins), Json);
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
            FormatVersion or 2 => h.Spec,
            1 => h.Config?.ToSpec(),
            _ => throw new SnapshotFormatException($"snapshot format {h.FormatVersion} is not supported (expected {FormatVersion}, 2 or 1)"),
        } ?? throw new SnapshotFormatException("snapshot header has no model spec");
        // A snapshot's spec sizes the network built from it: bounded before anything is built.
        try { spec.CheckBounds(); }
        catch (ArgumentException e) { throw new SnapshotFormatException($"snapshot declares a network out of bounds: {e.Message}"); }
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
        return new CadSnapshot(spec, h.Version, h.Steps, h.SamplesSeen, h.SkippedSteps, h.CreatedUnixMs, ema, raw, opt, h.TextEncoder, h.CoherenceBins);
    }

    /// <summary>
    /// Refuses a text model's snapshot unless <paramref name="encoderIdentity"/> is the text encoder it learnt
    /// from (name and weights' SHA-256). Class models need no text encoder and always pass.
    /// </summary>
    public void RequireEncoder(string? encoderIdentity)
    {
        if (!Spec.Rules().ReadsText) return;
        if (string.IsNullOrEmpty(TextEncoder))
            throw new TextEncoderMismatchException($"the snapshot of text model {Spec.Id} names no text encoder, so no encoder is known to fit it");
        if (!string.Equals(TextEncoder, encoderIdentity, StringComparison.Ordinal))
            throw new TextEncoderMismatchException($"text model {Spec.Id} learnt from the text encoder '{TextEncoder}'; this one is '{encoderIdentity ?? "none"}', " +
                "whose token states would mean nothing to it. Load it where that encoder runs, or train a model on this one");
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

    /// <summary>
    /// A denoiser with the EMA weights, ready for sampling, after <see cref="RequireEncoder"/>: the caller's text
    /// encoder must be the one a text model learnt from.
    /// </summary>
    public CadDenoiser CreateDenoiser(Device device, string? encoderIdentity)
    {
        RequireEncoder(encoderIdentity);
        return CreateDenoiser(device);
    }

    /// <summary>A denoiser with the EMA weights, ready for sampling, on the given device (no text encoder check).</summary>
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
