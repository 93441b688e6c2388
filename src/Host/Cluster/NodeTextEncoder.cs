using System.Runtime.CompilerServices;
using CadStream.Catalog;
using CadStream.Catalog.Conditions;
using CadStream.Catalog.Text;
using CadStream.Text;

namespace CadStream.Host.Cluster;

/// <summary>The node's one text encoder (MiniLM with a caption cache) when one of its models reads text.</summary>
internal static class NodeTextEncoder
{
    /// <summary>The node's text encoder when one of its models reads text; none otherwise.</summary>
    public static ITextEncoder? For(ModelCatalog catalog) => catalog.All.Any(m => m.Rules().ReadsText) ? NewTextEncoder() : null;

    // Its own method, compiled only when called: a node without a text model never resolves the text project's types.
    [MethodImpl(MethodImplOptions.NoInlining)]
    static ITextEncoder NewTextEncoder() => new LazyTextEncoder();
}
