using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CadStream.Serving;
using CsCheck;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;
using static CadStream.Tests.TestKit.HostileInput;

namespace CadStream.Tests.Serving;

/// <summary>
/// No request body, however malformed, makes the serving app fail: 10,000 generated bodies (JSON of any shape,
/// wrong types in every field, odd numbers, bytes that are not UTF-8, raw bytes, deep nesting, bodies past the
/// size limit) posted to a running app (and a few as pins) each get 200 or a 4xx/503 with a JSON reason, never a 500. A failure
/// prints CsCheck's seed; <c>CsCheck_Seed=...</c> replays that case.
/// </summary>
public sealed class HostileBodyTests(ITestOutputHelper output)
{
    /// <summary>
    /// Every valid request is cheap: one step by default and at most 4 images x steps, so a body that happens to be
    /// valid (count 64, steps 900) is refused with 429 before any work instead of sampling for seconds.
    /// </summary>
    static ServingOptions CheapOptions => ServingTestApp.FastOptions with
    {
        DefaultSteps = 1, MaxRequestCost = 4, MaxQueuedCost = 64, QualityEverySeconds = 0,
    };

    /// <summary>A member that is absent, valid (and cheap), or any JSON value at all.</summary>
    static Gen<(string, byte[])?> Member(string name, Gen<byte[]> valid, int absent = 3, int good = 5, int bad = 1) =>
        Gen.Frequency<(string, byte[])?>(
            (absent, Gen.Const(default((string, byte[])?))),
            (good, valid.Select(v => ((string, byte[])?)(name, v))),
            (bad, Value.Select(v => ((string, byte[])?)(name, v))));

    static readonly Gen<byte[]> ClassName = Gen.OneOf("Sneaker", "sneaker", "T-shirt/top", "Ankle boot", "bag", "Dragon", "3").Select(n => U(JsonSerializer.Serialize(n)));

    /// <summary>A body close to a valid one: each field absent, valid or anything; valid values ask for 1 image at 1 step.</summary>
    static readonly Gen<byte[]> NearValid = new[]
    {
        Member("label", Gen.Frequency<byte[]>((3, Gen.Int[0, 9].Select(i => U(i.ToString()))), (1, ClassName)), absent: 1, good: 6),
        Member("coherence", Gen.Double.Unit.Select(d => U(d.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))),
        Member("guidance", Gen.Int[0, 5].Select(i => U(i.ToString()))),
        // Now and then valid but over the cost limit: refused with 429 before any work.
        Member("steps", Gen.Frequency<string>((8, Gen.Const("1")), (1, Gen.OneOf("5", "100", "1000"))).Select(U)),
        Member("count", Gen.Frequency<string>((8, Gen.Const("1")), (1, Gen.OneOf("2", "64"))).Select(U)),
        Member("sampler", Gen.OneOf("\"ddim\"", "\"ddpm\"", "\"dpm++\"").Select(U)),
        Member("seed", Gen.Long[0, long.MaxValue].Select(l => U(l.ToString()))),
        Member("format", Gen.OneOf("\"png\"", "\"json\"").Select(U)),
        Member("snapshotVersion", Gen.Const(U("1")), absent: 6, good: 1, bad: 1),
        Member("prompt", Value, absent: 12, good: 1, bad: 0),
    }.Aggregate(Gen.Const(Array.Empty<(string, byte[])>()), (all, member) => Gen.Select(all, member, (a, m) => m is { } x ? [.. a, x] : a))
     .Select(members => Object(members));

    /// <summary>The issue's body and its kind: a label string of bytes that are not UTF-8, among valid fields.</summary>
    static readonly Gen<byte[]> NotUtf8Field = Gen.Select(Gen.OneOf(SampleFields), NotUtf8, (field, bad) =>
        (byte[])[.. U($"{{\"steps\": 1, \"{field}\": \""), .. bad, .. "\"}"u8]);

    static readonly Gen<byte[]> Body = Gen.Frequency<byte[]>(
        (30, NearValid),
        (15, Mutated(NearValid)),
        (6, NotUtf8Field),
        (20, Value),
        (6, Mutated(Value)),
        (10, Bytes),
        (3, Deep),
        // Past Serving:MaxBodyBytes (64 KiB).
        (2, Gen.Int[64 * 1024, 300_000].Select(n => U($"{{\"label\": 1, \"pad\": \"{new string('x', n)}\"}}"))));

    /// <summary>Mostly the served model; at times ids no model has, encoded separators and bytes that are not UTF-8 among them.</summary>
    static readonly Gen<string> Model = Gen.Frequency<string>(
        (40, Gen.Const(TinySnapshots.ModelId)),
        (1, Gen.OneOf("nope", "..%2F..%2Fetc%2Fpasswd", new string('m', 5000), "fashion-cad%00", "%ff%fe", "fashion-cad%2F..")));

    static readonly Gen<string?> ContentType = Gen.Frequency<string?>(
        (30, Gen.Const<string?>("application/json")),
        (1, Gen.OneOf<string?>("application/json; charset=utf-8", "application/json; charset=\"UTF-8\"", "application/json; charset=latin1",
            "text/plain", null, "application/x-www-form-urlencoded")));

    /// <summary>Mostly samples; at times a pin (PUT /v1/models/{id}/pin), whose body is read the same way. Pinning v1, the only version, changes nothing.</summary>
    static readonly Gen<(bool Pin, byte[] Body)> Request = Gen.Frequency<(bool, byte[])>(
        (25, Body.Select(b => (false, b))),
        (1, Body.Select(b => (true, b))),
        (1, Gen.OneOf("1", "2", "0", "-1", "1.0", "1e308", "\"1\"", "null").Select(v => (true, U($"{{\"version\": {v}}}")))));

    static string Describe((string Model, string? ContentType, (bool Pin, byte[] Body) Request) c)
    {
        var (pin, body) = c.Request;
        var text = Encoding.UTF8.GetString(body.AsSpan(0, Math.Min(body.Length, 400)));
        return $"{(pin ? "PUT" : "POST")} /v1/models/{(c.Model.Length > 60 ? c.Model[..60] + "..." : c.Model)}/{(pin ? "pin" : "samples")}, Content-Type {c.ContentType ?? "none"}, " +
               $"{body.Length} bytes{(JsonBody.InvalidUtf8At(body) is >= 0 and var at ? $" (not UTF-8 at byte {at})" : "")}: {text}";
    }

    [Fact]
    public async Task Ten_thousand_generated_bodies_get_200_or_a_4xx_with_a_json_reason_and_never_a_500()
    {
        await using var app = await ServingTestApp.StartAsync(options: CheapOptions);
        var codes = new ConcurrentDictionary<int, int>();
        int notUtf8 = 0;
        var clock = Stopwatch.StartNew();

        await Gen.Select(Model, ContentType, Request).SampleAsync(async (model, contentType, call) =>
        {
            var (pin, body) = call;
            using var request = new HttpRequestMessage(pin ? HttpMethod.Put : HttpMethod.Post, $"/v1/models/{model}/{(pin ? "pin" : "samples")}")
            {
                Content = new ByteArrayContent(body),
            };
            if (contentType is not null) request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
            using var response = await app.Http.SendAsync(request);
            int code = (int)response.StatusCode;
            var answer = await response.Content.ReadAsByteArrayAsync();
            codes.AddOrUpdate(code, 1, (_, n) => n + 1);
            var media = response.Content.Headers.ContentType?.MediaType;
            if (code == 200 && pin)
            {
                Assert.Equal(1, JsonDocument.Parse(answer).RootElement.GetProperty("pinnedVersion").GetInt64());
                return;
            }
            if (code == 200)
            {
                Assert.True(media is "image/png" or "application/json", $"200 with content type {media}");
                if (media == "image/png") Assert.Equal((byte[])[0x89, (byte)'P', (byte)'N', (byte)'G'], answer[..4]);
                else Assert.InRange(JsonDocument.Parse(answer).RootElement.GetProperty("images").GetArrayLength(), 1, 4);  // at most 4 images x steps
                return;
            }
            Assert.True(code is >= 400 and < 500 or 503, $"answered {code}: {Encoding.UTF8.GetString(answer)}");
            // Kestrel refuses a path holding a NUL while it parses the request line, before any app code runs: its bare 400.
            if (model.Contains("%00", StringComparison.Ordinal) && code == 400 && answer.Length == 0) return;
            Assert.Equal("application/json", media);
            using var doc = JsonDocument.Parse(answer);
            Assert.False(string.IsNullOrWhiteSpace(doc.RootElement.GetProperty("error").GetString()), $"{code} without a reason");
            // Bytes that are not UTF-8 anywhere in a JSON body sent to the model: 400, whatever else the body says.
            if (model == TinySnapshots.ModelId && contentType is not null && contentType.StartsWith("application/json", StringComparison.Ordinal)
                && !contentType.Contains("latin1", StringComparison.Ordinal) && !System.Text.Unicode.Utf8.IsValid(body))
            {
                Interlocked.Increment(ref notUtf8);
                Assert.True(code == 400, $"a body that is not UTF-8 answered {code}: {Encoding.UTF8.GetString(answer)}");
            }
        }, iter: 10_000, writeLine: output.WriteLine, print: Describe);

        output.WriteLine($"{codes.Values.Sum()} requests in {clock.Elapsed.TotalSeconds:F1} s: " +
                         string.Join(", ", codes.OrderBy(c => c.Key).Select(c => $"{c.Key}: {c.Value}")) + $"; {notUtf8} bodies not UTF-8");
        // The generator reached every kind of answer it was meant to: valid bodies sampled, bad ones refused.
        Assert.True(codes.GetValueOrDefault(200) >= 500, "too few valid bodies to show that sampling answers them");
        Assert.True(codes.GetValueOrDefault(400) >= 5000, "too few bad bodies");
        Assert.True(codes.GetValueOrDefault(429) >= 40, "too few bodies asked for more than the cost limit");
        Assert.True(codes.GetValueOrDefault(404) >= 20 && codes.GetValueOrDefault(415) >= 20, "too few unknown models or content types");
        Assert.True(notUtf8 >= 500, $"only {notUtf8} bodies were not UTF-8");
    }

    [Fact]
    public async Task A_label_that_is_not_utf8_gets_400_naming_the_byte()
    {
        await using var app = await ServingTestApp.StartAsync(options: CheapOptions);
        // The issue's body: {"label": "\xff\xfe\xfd"}, which answered an empty 500.
        var content = new ByteArrayContent([.. "{\"label\": \""u8, 0xFF, 0xFE, 0xFD, .. "\"}"u8]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var r = await app.Http.PostAsync($"/v1/models/{TinySnapshots.ModelId}/samples", content);
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        Assert.Equal("body is not valid UTF-8: byte 11 (0xFF) does not start or continue a UTF-8 character", doc.RootElement.GetProperty("error").GetString());
        // An escape of half a surrogate pair is UTF-8, but no text.
        r = await app.PostSamplesAsync("""{"label": "\ud800", "steps": 1}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Contains("label is not valid text", await r.Content.ReadAsStringAsync());
        r = await app.PostSamplesAsync("""{"label": 1, "sampler": "dd\udfffim", "steps": 1}""");
        Assert.Contains("sampler is not valid text", await r.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task An_unforeseen_exception_answers_a_json_500_and_an_oversized_body_its_own_413()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var web = builder.Build();
        web.UseJsonErrors();
        web.MapGet("/boom", (Func<string>)(() => throw new InvalidOperationException("a bug")));
        web.MapPost("/read", async (HttpContext context) =>
        {
            using var sink = new MemoryStream();
            await context.Request.Body.CopyToAsync(sink);
            return Results.Ok(sink.Length);
        });
        await web.StartAsync();
        var url = new Uri(web.Urls.First());
        using var http = new HttpClient { BaseAddress = url };

        var r = await http.GetAsync("/boom");
        Assert.Equal(HttpStatusCode.InternalServerError, r.StatusCode);
        Assert.Equal("application/json", r.Content.Headers.ContentType?.MediaType);
        using (var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync()))
            Assert.Equal("internal error (InvalidOperationException); the server's log has the details", doc.RootElement.GetProperty("error").GetString());

        // A body declared past Kestrel's own limit (30 MB) fails when it is read: Kestrel's 413, as JSON.
        using var socket = new System.Net.Sockets.TcpClient();
        await socket.ConnectAsync(url.Host, url.Port);
        var stream = socket.GetStream();
        await stream.WriteAsync("POST /read HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40000000\r\n\r\nhello"u8.ToArray());
        using var reader = new StreamReader(stream);
        var answer = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.StartsWith("HTTP/1.1 413", answer);
        Assert.Contains("{\"error\":", answer);
    }
}
