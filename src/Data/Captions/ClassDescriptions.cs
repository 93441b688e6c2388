namespace CadStream.Data.Captions;

/// <summary>
/// One short description per Fashion-MNIST class, in class order: what the built-in image-caption
/// agreement compares a caption with (agreement = sum_k p(k | image) * cos(caption, description k)).
/// Plain training wording only, so held-out evaluation prompts stay unseen.
/// </summary>
public static class ClassDescriptions
{
    public static IReadOnlyList<string> FashionMnist { get; } =
    [
        "a short-sleeved t-shirt or top",
        "a pair of long trousers",
        "a long-sleeved pullover sweater",
        "a dress",
        "a coat or jacket",
        "a pair of open sandals",
        "a button-down shirt with a collar",
        "a pair of sneakers",
        "a bag or handbag",
        "a pair of ankle boots",
    ];
}
