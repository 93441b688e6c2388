using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CadStream.Serving;

/// <summary>
/// The last resort of every CadStream HTTP app: an exception that escapes an endpoint answers JSON
/// <c>{"error": ...}</c> like every other error (docs/interfaces.md, "HTTP"), never ASP.NET's empty 500.
/// Bad input is answered by the endpoints themselves; this only catches what they did not foresee.
/// </summary>
public static class JsonErrors
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Put it first, so it wraps everything after it (the API keys included).</summary>
    public static IApplicationBuilder UseJsonErrors(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        try { await next(context); }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away: nobody is left to answer.
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            // The request itself is broken (a body cut short, one over Kestrel's limits): its own 4xx, as JSON.
            await WriteAsync(context, e.StatusCode, e.Message);
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            context.RequestServices.GetService<ILoggerFactory>()?.CreateLogger(typeof(JsonErrors).FullName!)
                .LogError(e, "{Method} {Path} failed", context.Request.Method, context.Request.Path);
            await WriteAsync(context, StatusCodes.Status500InternalServerError,
                $"internal error ({e.GetType().Name}); the server's log has the details");
        }
    });

    static async Task WriteAsync(HttpContext context, int code, string message)
    {
        context.Response.Clear();
        context.Response.StatusCode = code;
        try { await context.Response.WriteAsJsonAsync(new ErrorAnswer(message), Json, context.RequestAborted); }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested) { }
    }
}
