using CadStream.Text;
using CadStream.Catalog.Text;

namespace CadStream.Tests.Text;

/// <summary>One real MiniLM encoder for the text tests (loading it takes seconds).</summary>
public sealed class MiniLmFixture : IDisposable
{
    public const string Name = "MiniLM";

    public MiniLmTextEncoder Encoder { get; } = new();

    public void Dispose() => Encoder.Dispose();
}

[CollectionDefinition(MiniLmFixture.Name)]
public sealed class MiniLmCollection : ICollectionFixture<MiniLmFixture>;

/// <summary>Counts what reaches the real encoder, to see what a cache saves.</summary>
public sealed class CountingEncoder(ITextEncoder inner) : ITextEncoder
{
    private readonly List<string[]> calls = [];

    public IReadOnlyList<string[]> Calls
    {
        get { lock (calls) return calls.ToList(); }
    }

    public string Identity => inner.Identity;
    public int Width => inner.Width;
    public int MaxTokens => inner.MaxTokens;

    public TextEncoding Encode(IReadOnlyList<string> captions)
    {
        lock (calls) calls.Add(captions.ToArray());
        return inner.Encode(captions);
    }
}
