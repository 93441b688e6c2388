using System.Buffers.Binary;
using System.IO.Compression;
using CadStream.Catalog;
using CadStream.Data;
using CadStream.Model;
using CadStream.Scoring;

namespace CadStream.Tests.Data;

/// <summary>Loads each real split once for all tests that need it (decompressing takes ~0.5 s).</summary>
public static class RealData
{
    static readonly Lazy<FashionMnist> TrainSet = new(() => FashionMnist.Load(train: true));
    static readonly Lazy<FashionMnist> TestSet = new(() => FashionMnist.Load(train: false));
    public static FashionMnist Train => TrainSet.Value;
    public static FashionMnist Test => TestSet.Value;
}

public sealed class IdxReaderTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("cadstream-idx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static byte[] ImagesFile(int magic, int count, int rows, int cols, int extraBytes = 0)
    {
        var data = new byte[16 + count * rows * cols + extraBytes];
        BinaryPrimitives.WriteInt32BigEndian(data, magic);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(4), count);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(8), rows);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(12), cols);
        for (int i = 16; i < data.Length; i++) data[i] = (byte)(i * 7);
        return data;
    }

    static byte[] LabelsFile(int magic, params byte[] labels)
    {
        var data = new byte[8 + labels.Length];
        BinaryPrimitives.WriteInt32BigEndian(data, magic);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(4), labels.Length);
        labels.CopyTo(data, 8);
        return data;
    }

    string Write(string name, byte[] bytes, bool gzip)
    {
        var path = Path.Combine(_dir, name);
        if (!gzip) { File.WriteAllBytes(path, bytes); return path; }
        using var f = File.Create(path);
        using var gz = new GZipStream(f, CompressionLevel.Fastest);
        gz.Write(bytes);
        return path;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsImagesAndLabels_PlainAndGzip(bool gzip)
    {
        var raw = ImagesFile(IdxReader.ImagesMagic, 3, 4, 5);
        // The name has no .gz even when gzipped: detection must go by content.
        var images = IdxReader.ReadImages(Write("imgs", raw, gzip));
        Assert.Equal((3, 4, 5), (images.Count, images.Rows, images.Cols));
        Assert.Equal(raw.AsSpan(16).ToArray(), images.Pixels);
        var labels = IdxReader.ReadLabels(Write("lbls", LabelsFile(IdxReader.LabelsMagic, 2, 0, 9), gzip));
        Assert.Equal(new byte[] { 2, 0, 9 }, labels);
    }

    [Fact]
    public void BadMagic_Throws()
    {
        var path = Write("imgs", ImagesFile(IdxReader.LabelsMagic, 1, 2, 2), gzip: true);
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(path));
        Assert.Contains("magic", e.Message);
        Assert.Throws<InvalidDataException>(() => IdxReader.ReadLabels(Write("lbls", LabelsFile(IdxReader.ImagesMagic, 1), gzip: false)));
    }

    [Fact]
    public void SizeMismatch_Throws()
    {
        Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(Write("long", ImagesFile(IdxReader.ImagesMagic, 2, 3, 3, extraBytes: 1), false)));
        var shortLabels = LabelsFile(IdxReader.LabelsMagic, 1, 2, 3)[..^1];
        Assert.Throws<InvalidDataException>(() => IdxReader.ReadLabels(Write("short", shortLabels, true)));
        Assert.Throws<InvalidDataException>(() => IdxReader.ReadLabels(Write("tiny", [0, 0, 8], false)));
    }

    [Fact]
    public void SyntheticFolder_LoadsAsFashionMnist()
    {
        Write("t10k-images-idx3-ubyte.gz", ImagesFile(IdxReader.ImagesMagic, 2, 28, 28), gzip: true);
        Write("t10k-labels-idx1-ubyte", LabelsFile(IdxReader.LabelsMagic, 7, 3), gzip: false);
        var set = FashionMnist.Load(train: false, _dir);
        Assert.Equal(2, set.Count);
        Assert.Equal(new byte[] { 7, 3 }, set.Labels);
    }

    [Fact]
    public void MissingFolderOrFile_ThrowsDatasetMissing()
    {
        var missing = Path.Combine(_dir, "nope");
        var e = Assert.Throws<DatasetMissingException>(() => FashionMnist.Load(train: true, missing));
        Assert.Contains("dataset-fashion-mnist", e.Message);
        Assert.Contains(missing, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        // The folder exists but holds no train files.
        var e2 = Assert.Throws<DatasetMissingException>(() => FashionMnist.Load(train: true, _dir));
        Assert.Contains("dataset-fashion-mnist", e2.Message);
    }
}

public sealed class FashionMnistTests
{
    [Fact]
    public void RealDataset_HasExpectedSizesAndBalancedClasses()
    {
        var train = RealData.Train;
        var test = RealData.Test;
        Assert.Equal(60000, train.Count);
        Assert.Equal(10000, test.Count);
        Assert.Equal(60000 * 784, train.Pixels.Length);
        Assert.All(test.Labels, l => Assert.InRange(l, 0, 9));
        var counts = new int[10];
        foreach (var l in train.Labels) counts[l]++;
        Assert.All(counts, c => Assert.Equal(6000, c));
        Assert.Contains(train.Pixels, p => p == 255); // real images, not blank
    }

    [Fact]
    public void ToTensor_ScalesToMinusOneOne()
    {
        var pixels = new byte[2 * 784];
        pixels[0] = 255; pixels[784 + 5] = 51;
        var set = new FashionMnist(pixels, [1, 2]);
        using var t = set.ToTensor([1, 0], TorchSharp.torch.CPU);
        Assert.Equal(new long[] { 2, 1, 28, 28 }, t.shape);
        Assert.Equal(TorchSharp.torch.ScalarType.Float32, t.dtype);
        var v = t.data<float>().ToArray();
        Assert.Equal(51 / 127.5f - 1f, v[5], 6);   // image 1 comes first
        Assert.Equal(-1f, v[0]);
        Assert.Equal(1f, v[784], 6);               // image 0's first pixel
    }

    [Theory]
    [InlineData("0", 0)]
    [InlineData("9", 9)]
    [InlineData("sneaker", 7)]
    [InlineData("T-shirt/top", 0)]
    [InlineData("tshirttop", 0)]
    [InlineData("T-shirt", 0)]
    [InlineData("ankle-boot", 9)]
    [InlineData("Ankle boot", 9)]
    [InlineData("SHIRT", 6)]
    [InlineData(" bag ", 8)]
    public void ParseClass_AcceptsNamesAndIndices(string input, int expected) =>
        Assert.Equal(expected, ParseFashionClass(input));

    [Theory]
    [InlineData("10")]
    [InlineData("-1")]
    [InlineData("boots")]
    [InlineData("")]
    [InlineData("s")]
    public void ParseClass_RejectsUnknown(string input)
    {
        var e = Assert.Throws<ArgumentException>(() => ParseFashionClass(input));
        Assert.Contains($"unknown class '{input}'", e.Message);
        Assert.Contains("Ankle boot", e.Message);
    }

    static int ParseFashionClass(string input) => ClassNames.Parse(input, FashionMnist.ClassNames);
}
