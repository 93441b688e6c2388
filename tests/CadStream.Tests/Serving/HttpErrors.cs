using System.Net;
using System.Text.Json;

namespace CadStream.Tests.Serving;

/// <summary>What every CadStream HTTP error must be (docs/interfaces.md, "HTTP"): the status, JSON, a non-empty <c>error</c>.</summary>
public static class HttpErrors
{
    /// <summary>Asserts <paramref name="r"/> is such an error with <paramref name="expected"/> status; returns its message.</summary>
    public static async Task<string> ErrorOf(HttpResponseMessage r, HttpStatusCode expected = HttpStatusCode.BadRequest)
    {
        var text = await r.Content.ReadAsStringAsync();
        Assert.True(expected == r.StatusCode, $"expected {(int)expected}, got {(int)r.StatusCode}: {text}");
        Assert.Equal("application/json", r.Content.Headers.ContentType?.MediaType);
        var json = JsonDocument.Parse(text).RootElement;
        Assert.Equal(JsonValueKind.Object, json.ValueKind);
        var message = json.GetProperty("error").GetString();
        Assert.False(string.IsNullOrWhiteSpace(message));
        return message!;
    }
}
