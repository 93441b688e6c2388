using CadStream.Catalog.Text;

namespace CadStream.Text;

/// <summary>
/// A node's one frozen text encoder, shared by its scorers, trainers and serving: MiniLM behind a caption
/// cache, loaded on first use (about 0.5 s and 90 MB), so a node without text work never pays for it.
/// Thread-safe.
/// </summary>
public sealed class LazyTextEncoder(int cacheCapacity = 4096) : ITextEncoder, IDisposable
{
    private readonly Lazy<(MiniLmTextEncoder Inner, CachedTextEncoder Cached)> loaded = new(() =>
    {
        var inner = new MiniLmTextEncoder();
        return (inner, new CachedTextEncoder(inner, cacheCapacity));
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    public bool IsLoaded => loaded.IsValueCreated;
    public string Identity => loaded.Value.Cached.Identity;
    public int Width => loaded.Value.Cached.Width;
    public int MaxTokens => loaded.Value.Cached.MaxTokens;

    public TextEncoding Encode(IReadOnlyList<string> captions) => loaded.Value.Cached.Encode(captions);

    public void Dispose()
    {
        if (loaded.IsValueCreated) loaded.Value.Inner.Dispose();
    }
}
