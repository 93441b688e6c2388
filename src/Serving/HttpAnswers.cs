using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace CadStream.Serving;

/// <summary>
/// What every endpoint answers with: JSON in the web's naming, errors as <see cref="ErrorAnswer"/> (docs/interfaces.md, "HTTP"),
/// and the declaration of those errors for the OpenAPI document.
/// </summary>
static class HttpAnswers
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static IResult Error(int code, string message) => Results.Json(new ErrorAnswer(message), Json, statusCode: code);

    public static IResult UnknownModel(ServingRuntime runtime, string id) =>
        Error(StatusCodes.Status404NotFound, $"unknown model '{id}'; models: {string.Join(", ", runtime.Hosts.Keys)}");

    /// <summary>Declares the <see cref="ErrorAnswer"/> an endpoint gives with each of <paramref name="codes"/>.</summary>
    public static RouteHandlerBuilder Errors(this RouteHandlerBuilder builder, params int[] codes)
    {
        foreach (var code in codes) builder.Produces<ErrorAnswer>(code, "application/json");
        return builder;
    }
}
