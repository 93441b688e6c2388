namespace CadStream.Catalog;

/// <summary>
/// The names of a model's <c>Resize</c> policy (how an image of another aspect ratio reaches the model's square;
/// the imaging project does it): a spec is checked against them without loading an image codec.
/// </summary>
public static class ResizePolicyNames
{
    public const string CenterCrop = "center-crop", Pad = "pad", Stretch = "stretch";

    public static IReadOnlyList<string> All { get; } = [CenterCrop, Pad, Stretch];

    /// <summary>The policy's name (trimmed, lower case).</summary>
    /// <exception cref="ArgumentException">No policy has that name.</exception>
    public static string Normalize(string name)
    {
        var n = name.Trim().ToLowerInvariant();
        return All.Contains(n) ? n : throw new ArgumentException($"unknown Resize '{name}'; expected center-crop, pad or stretch");
    }
}
