using System.Buffers;
using System.Text;
using System.Text.Json;

namespace CadStream.Serving;

/// <summary>
/// A request body read as one JSON object, refused with a reason (HTTP 400) for anything that would otherwise
/// fail later, when a field is read: bytes that are not UTF-8 (JSON text is UTF-8, RFC 8259), nesting past
/// 16 levels, and a field name escaping half a surrogate pair (<c>"\ud800"</c>), which looking up any field would throw on.
/// </summary>
public static class JsonBody
{
    /// <summary>The parsed body (dispose it), or null and what is wrong.</summary>
    /// <param name="example">A valid body, for the message when the body is not an object.</param>
    public static JsonDocument? ParseObject(ReadOnlySpan<byte> body, string example, out string? error)
    {
        error = null;
        if (InvalidUtf8At(body) is int at and >= 0)
        {
            error = $"body is not valid UTF-8: byte {at} (0x{body[at]:X2}) does not start or continue a UTF-8 character";
            return null;
        }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = 16 }); }
        catch (JsonException e)
        {
            error = $"body is not JSON: {e.Message}";
            return null;
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object) error = $"body must be a JSON object, e.g. {example}";
        else
            foreach (var member in doc.RootElement.EnumerateObject())
            {
                try { _ = member.Name; }
                catch (InvalidOperationException)
                {
                    error = "a field name is not valid text: it escapes half a surrogate pair (such as \\ud800)";
                    break;
                }
            }
        if (error is null) return doc;
        doc.Dispose();
        return null;
    }

    /// <summary>The offset of the first byte that is not part of a well-formed UTF-8 character, or -1 when all are.</summary>
    public static int InvalidUtf8At(ReadOnlySpan<byte> bytes)
    {
        if (System.Text.Unicode.Utf8.IsValid(bytes)) return -1;
        for (int i = 0; i < bytes.Length;)
        {
            if (Rune.DecodeFromUtf8(bytes[i..], out _, out int used) != OperationStatus.Done) return i;
            i += used;
        }
        return -1;
    }
}
