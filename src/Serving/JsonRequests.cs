using Microsoft.AspNetCore.Http;

namespace CadStream.Serving;

/// <summary>
/// The checks every JSON body passes before it is parsed: its declared content type, and its size, read with a limit
/// so a large body is refused without being held whole.
/// </summary>
static class JsonRequests
{
    /// <summary>
    /// 415 unless the body is declared <c>application/json</c> (a charset parameter may say UTF-8):
    /// a form post or text body is refused before it is read.
    /// </summary>
    public static IResult? NotJson(HttpRequest request)
    {
        var type = request.ContentType;
        if (!Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(type, out var media)
            || !media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
            return HttpAnswers.Error(StatusCodes.Status415UnsupportedMediaType,
                $"the body must be JSON with the header 'Content-Type: application/json' (got {(string.IsNullOrWhiteSpace(type) ? "none" : $"'{type}'")})");
        // A parameter's value may be quoted (charset="UTF-8", RFC 9110); the quotes are not part of the name.
        var charset = Microsoft.Net.Http.Headers.HeaderUtilities.RemoveQuotes(media.Charset);
        if (charset.HasValue && !charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) && !charset.Equals("utf8", StringComparison.OrdinalIgnoreCase))
            return HttpAnswers.Error(StatusCodes.Status415UnsupportedMediaType, $"the body must be UTF-8 JSON (got charset '{charset}')");
        return null;
    }

    /// <summary>The request body, or null when it is larger than <paramref name="limit"/>.</summary>
    public static async Task<byte[]?> ReadBodyAsync(HttpRequest request, int limit, CancellationToken cancel)
    {
        if (request.ContentLength > limit) return null;
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int n;
        while ((n = await request.Body.ReadAsync(chunk, cancel)) > 0)
        {
            if (buffer.Length + n > limit) return null;
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }
}
