namespace CadStream.Data;

/// <summary>What a model configuration takes from a data set's name: class names and image shape.</summary>
public sealed record DatasetInfo(string Name, IReadOnlyList<string> Classes, int Channels, int ImageSize);

/// <summary>The data sets a model configuration may name (<c>"Dataset": "fashion-mnist"</c>).</summary>
public static class Datasets
{
    public static readonly DatasetInfo FashionMnistInfo =
        new(FashionMnist.DatasetName, FashionMnist.ClassNames, 1, FashionMnist.Side);

    public static IReadOnlyList<DatasetInfo> All { get; } = [FashionMnistInfo];

    /// <summary>The data set of that name; an <see cref="ArgumentException"/> that lists the known ones otherwise.</summary>
    public static DatasetInfo Find(string name) =>
        All.FirstOrDefault(d => string.Equals(d.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown dataset '{name}'; known: {string.Join(", ", All.Select(d => d.Name))} (or give Classes, Channels and ImageSize)");
}
