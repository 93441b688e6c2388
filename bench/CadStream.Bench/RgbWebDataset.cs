using System.Diagnostics;
using CadStream.Data;
using CadStream.Data.Examples;
using CadStream.Host.Cli;

/// <summary>
/// Writes the worked RGB example's data (docs/results/rgb/): WebDataset tar shards of Fashion-MNIST garments tinted in
/// eight colours, as JPEG, with captions naming colour and garment, a share of them wrong, and a CLIP-like `similarity`.
/// A tool for the docs like resize-picture, not part of cadstream's contract: users bring their own shards.
/// </summary>
sealed class RgbWebDataset : ICommand
{
    public string Name => "rgb-webdataset";
    public string Summary => "Writes the worked RGB example's WebDataset shards (tinted Fashion-MNIST garments as JPEG, captions, similarity).";
    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("out", "the folder to write the shards into", "rgb-webdataset", ValueName: "DIR"),
        new("count", "samples to write", "10000", ValueName: "N"),
        new("wrong", "share of captions naming the wrong colour, garment or both", "0.3", ValueName: "SHARE"),
        new("seed", "random seed (the same seed writes the same shards)", "0", ValueName: "N"),
        new("size", "side of the JPEGs in pixels", "64", ValueName: "PX"),
        new("per-shard", "samples per tar shard", "1000", ValueName: "N"),
        new("split", "Fashion-MNIST split the garments come from: train or test", "train", ValueName: "SPLIT"),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        var split = a.String("split");
        if (split is not ("train" or "test")) throw new UsageException($"--split must be train or test (got {split})");
        var folder = a.String("out")!;
        int count = a.Int("count", 1, 10_000_000), size = a.Int("size", 16, 512), perShard = a.Int("per-shard", 1, 1_000_000), seed = a.Int("seed");
        double wrong = a.Double("wrong", 0, 1);
        var clock = Stopwatch.StartNew();
        var written = new TintedGarmentWriter(FashionMnist.Load(train: split == "train"), size).Write(folder, count, wrong, seed, perShard);
        int shards = (count + perShard - 1) / perShard;
        long bytes = Directory.GetFiles(folder, "*.tar").Sum(f => new FileInfo(f).Length);
        Console.WriteLine($"wrote {written.Count} samples in {shards} shards ({bytes / 1e6:F1} MB) to {folder} in {clock.Elapsed.TotalSeconds:F1} s");
        Console.WriteLine($"wrong captions: {written.Count(w => w.CaptionIsWrong)} ({written.Count(w => w.Colour != w.CaptionColour && w.Garment == w.CaptionGarment)} colour, " +
            $"{written.Count(w => w.Colour == w.CaptionColour && w.Garment != w.CaptionGarment)} garment, {written.Count(w => w.Colour != w.CaptionColour && w.Garment != w.CaptionGarment)} both)");
        Console.WriteLine($"mean similarity: right {Mean(written.Where(w => !w.CaptionIsWrong)):F3}, wrong {Mean(written.Where(w => w.CaptionIsWrong)):F3}");
        return 0;
    }

    static double Mean(IEnumerable<TintedGarment> samples) => samples.Select(s => s.Similarity).DefaultIfEmpty(double.NaN).Average();
}
