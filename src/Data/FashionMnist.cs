using System.Buffers.Binary;
using System.IO.Compression;

namespace CadStream.Data;

/// <summary>The Fashion-MNIST files are not where we looked; the message says how to get them.</summary>
public sealed class DatasetMissingException(string folder, string? detail = null)
    : Exception($"Fashion-MNIST not found in {folder}{(detail is null ? "" : $" ({detail})")}; install it with 'apt-get install -y dataset-fashion-mnist' or set CADSTREAM_DATA to a folder holding the IDX files")
{
    public string Folder { get; } = folder;
}

/// <summary>Images from an IDX3 file: Count images of Rows x Cols bytes, row-major.</summary>
public sealed record IdxImages(int Count, int Rows, int Cols, byte[] Pixels);

/// <summary>Reads IDX files (the MNIST format), gzipped or plain; the gzip magic decides, not the name.</summary>
public static class IdxReader
{
    public const int ImagesMagic = 0x00000803; // unsigned byte data, 3 dimensions
    public const int LabelsMagic = 0x00000801; // unsigned byte data, 1 dimension

    /// <summary>The file's bytes, gunzipped when it starts with the gzip magic 0x1f8b.</summary>
    public static byte[] ReadAllBytes(string path)
    {
        var raw = File.ReadAllBytes(path);
        if (raw.Length < 2 || raw[0] != 0x1f || raw[1] != 0x8b) return raw;
        try
        {
            using var gz = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
            using var output = new MemoryStream(raw.Length * 4);
            gz.CopyTo(output);
            return output.ToArray();
        }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: corrupted gzip data ({e.Message})", e); }
    }

    public static IdxImages ReadImages(string path)
    {
        var data = ReadAllBytes(path);
        if (data.Length < 16) throw new InvalidDataException($"{path}: too short for an IDX image header ({data.Length} bytes)");
        CheckMagic(path, data, ImagesMagic, "images");
        int count = ReadCount(path, data, 4), rows = ReadCount(path, data, 8), cols = ReadCount(path, data, 12);
        long expected = 16L + (long)count * rows * cols;
        if (data.Length != expected)
            throw new InvalidDataException($"{path}: header says {count} images of {rows}x{cols} ({expected} bytes) but the file has {data.Length} bytes");
        return new IdxImages(count, rows, cols, data.AsSpan(16).ToArray());
    }

    public static byte[] ReadLabels(string path)
    {
        var data = ReadAllBytes(path);
        if (data.Length < 8) throw new InvalidDataException($"{path}: too short for an IDX label header ({data.Length} bytes)");
        CheckMagic(path, data, LabelsMagic, "labels");
        int count = ReadCount(path, data, 4);
        if (data.Length != 8L + count)
            throw new InvalidDataException($"{path}: header says {count} labels but the file has {data.Length - 8} label bytes");
        return data.AsSpan(8).ToArray();
    }

    static void CheckMagic(string path, byte[] data, int expected, string what)
    {
        int magic = BinaryPrimitives.ReadInt32BigEndian(data);
        if (magic != expected)
            throw new InvalidDataException($"{path}: bad IDX magic 0x{magic:x8} (expected 0x{expected:x8} for {what})");
    }

    static int ReadCount(string path, byte[] data, int offset)
    {
        int n = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(offset));
        if (n < 0) throw new InvalidDataException($"{path}: negative dimension {n} in the IDX header");
        return n;
    }
}

/// <summary>Fashion-MNIST in memory: 28x28 grey images (bytes) and labels 0..9.</summary>
public sealed class FashionMnist
{
    public const int NumClasses = 10;
    /// <summary>Images in the training split.</summary>
    public const int TrainCount = 60000;
    public const int Side = 28;
    public const int ImageBytes = Side * Side;
    /// <summary>The name a model's configuration uses for this data set.</summary>
    public const string DatasetName = "fashion-mnist";

    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public static string DefaultFolder =>
        Environment.GetEnvironmentVariable("CADSTREAM_DATA") is { Length: > 0 } env ? env : "/usr/share/datasets/fashion-mnist";

    public int Count { get; }
    public int Height => Side;
    public int Width => Side;
    /// <summary>Count * Height * Width bytes, row-major per image.</summary>
    public byte[] Pixels { get; }
    public byte[] Labels { get; }

    public FashionMnist(byte[] pixels, byte[] labels)
    {
        if (pixels.Length != labels.Length * ImageBytes)
            throw new ArgumentException($"expected {labels.Length * ImageBytes} pixel bytes for {labels.Length} labels, got {pixels.Length}");
        foreach (var l in labels)
            if (l >= NumClasses) throw new ArgumentException($"label {l} out of range 0..{NumClasses - 1}");
        Pixels = pixels;
        Labels = labels;
        Count = labels.Length;
    }

    /// <summary>Loads the train (60k) or test (10k) split from <paramref name="folder"/> (default <see cref="DefaultFolder"/>).</summary>
    public static FashionMnist Load(bool train, string? folder = null)
    {
        folder ??= DefaultFolder;
        if (!Directory.Exists(folder)) throw new DatasetMissingException(folder);
        var prefix = train ? "train" : "t10k";
        var images = Find(folder, $"{prefix}-images-idx3-ubyte");
        var labelsPath = Find(folder, $"{prefix}-labels-idx1-ubyte");
        var img = IdxReader.ReadImages(images);
        if (img.Rows != Side || img.Cols != Side)
            throw new InvalidDataException($"{images}: expected 28x28 images, got {img.Rows}x{img.Cols}");
        var labels = IdxReader.ReadLabels(labelsPath);
        if (labels.Length != img.Count)
            throw new InvalidDataException($"{labelsPath}: {labels.Length} labels for {img.Count} images");
        try { return new FashionMnist(img.Pixels, labels); }
        catch (ArgumentException e) { throw new InvalidDataException($"{labelsPath}: {e.Message}", e); }
    }

    // Debian ships the .gz files; an unpacked copy is accepted too.
    static string Find(string folder, string stem)
    {
        foreach (var name in new[] { stem + ".gz", stem })
        {
            var path = Path.Combine(folder, name);
            if (File.Exists(path)) return path;
        }
        throw new DatasetMissingException(folder, $"{stem}.gz is missing");
    }

    /// <summary>The images at <paramref name="indices"/>, in that order, with their labels (copies).</summary>
    public FashionMnist Select(IReadOnlyList<int> indices)
    {
        var pixels = new byte[indices.Count * ImageBytes];
        var labels = new byte[indices.Count];
        for (int j = 0; j < indices.Count; j++)
        {
            Array.Copy(Pixels, indices[j] * ImageBytes, pixels, j * ImageBytes, ImageBytes);
            labels[j] = Labels[indices[j]];
        }
        return new FashionMnist(pixels, labels);
    }

    /// <summary>A contiguous slice sharing nothing with this set (copies), e.g. a quick-test subset.</summary>
    public FashionMnist Slice(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > Count)
            throw new ArgumentOutOfRangeException(nameof(count), $"slice [{start}, {start + count}) outside 0..{Count}");
        return new FashionMnist(Pixels.AsSpan(start * ImageBytes, count * ImageBytes).ToArray(), Labels.AsSpan(start, count).ToArray());
    }
}
