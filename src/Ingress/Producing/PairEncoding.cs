using System.Text.Json;
using Google.Protobuf;
using SkiaSharp;

namespace CadStream.Ingress.Producing;

public enum PairFormat { Json, Protobuf }

/// <summary>A pair as a producer sends it (the contract's fields). Give one image: PNG or raw u8.</summary>
public sealed record OutgoingPair
{
    public string? Id { get; init; }
    public string? Model { get; init; }
    public byte[]? ImagePng { get; init; }
    /// <summary>Raw row-major interleaved pixels of Width x Height x Channels.</summary>
    public byte[]? ImageU8 { get; init; }
    public int Width { get; init; }
    public int Height { get; init; }
    public int Channels { get; init; }
    public int? Label { get; init; }
    public string? LabelName { get; init; }
    public double? Coherence { get; init; }
    public double? Score { get; init; }
    public string? Caption { get; init; }
}

/// <summary>Writes pairs as record values: JSON (UTF-8 object) or protobuf cadstream.v1.Pair.</summary>
public static class PairEncoding
{
    public static PairFormat ParseFormat(string s) => s.Trim().ToLowerInvariant() switch
    {
        "json" => PairFormat.Json,
        "protobuf" or "proto" => PairFormat.Protobuf,
        _ => throw new ArgumentException($"unknown format '{s}'; expected json or protobuf"),
    };

    public static string ContentType(PairFormat format) =>
        format == PairFormat.Protobuf ? IngressTopics.ProtobufContentType : IngressTopics.JsonContentType;

    public static byte[] Encode(OutgoingPair pair, PairFormat format) =>
        format == PairFormat.Protobuf ? ToProtobuf(pair) : ToJson(pair);

    /// <summary>One JSON object on one line, contract field names, images in base64.</summary>
    public static byte[] ToJson(OutgoingPair p)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            if (p.Id is not null) w.WriteString("id", p.Id);
            if (p.Model is not null) w.WriteString("model", p.Model);
            if (p.ImagePng is not null) w.WriteBase64String("image_png", p.ImagePng);
            if (p.ImageU8 is not null)
            {
                w.WriteBase64String("image_u8", p.ImageU8);
                w.WriteNumber("width", p.Width);
                w.WriteNumber("height", p.Height);
                w.WriteNumber("channels", p.Channels);
            }
            if (p.Label is int label) w.WriteNumber("label", label);
            else if (p.LabelName is not null) w.WriteString("label", p.LabelName);
            if (p.Coherence is double c) w.WriteNumber("coherence", c);
            if (p.Score is double s) w.WriteNumber("score", s);
            if (p.Caption is not null) w.WriteString("caption", p.Caption);
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    public static byte[] ToProtobuf(OutgoingPair p)
    {
        var m = new Protocol.Pair
        {
            Id = p.Id ?? "",
            Model = p.Model ?? "",
            Caption = p.Caption ?? "",
        };
        if (p.ImagePng is not null) m.ImagePng = ByteString.CopyFrom(p.ImagePng);
        if (p.ImageU8 is not null)
        {
            m.ImageU8 = ByteString.CopyFrom(p.ImageU8);
            m.Width = (uint)p.Width;
            m.Height = (uint)p.Height;
            m.Channels = (uint)p.Channels;
        }
        if (p.Label is int label) m.LabelIndex = label;
        else if (p.LabelName is not null) m.LabelName = p.LabelName;
        if (p.Coherence is double c) m.Coherence = c;
        if (p.Score is double s) m.Score = s;
        return m.ToByteArray();
    }

    /// <summary>Encodes 8-bit grey (1 channel) or RGB (3, interleaved) pixels as a PNG.</summary>
    public static byte[] EncodePng(ReadOnlySpan<byte> pixels, int width, int height, int channels = 1)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), "1 (grey) or 3 (RGB) channels");
        if (pixels.Length != width * height * channels)
            throw new ArgumentException($"expected {width * height * channels} bytes for {width}x{height}x{channels}, got {pixels.Length}");
        var info = new SKImageInfo(width, height, channels == 1 ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        var dst = bitmap.GetPixelSpan();
        if (channels == 1) pixels.CopyTo(dst);
        else
            for (int i = 0; i < width * height; i++)
            {
                dst[i * 4] = pixels[i * 3];
                dst[i * 4 + 1] = pixels[i * 3 + 1];
                dst[i * 4 + 2] = pixels[i * 3 + 2];
                dst[i * 4 + 3] = 255;
            }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
