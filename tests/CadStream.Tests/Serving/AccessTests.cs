using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CadStream.Serving;
using static CadStream.Tests.Serving.HttpErrors;

namespace CadStream.Tests.Serving;

/// <summary>
/// One app with two API keys configured, shared by the tests of <see cref="AccessTests"/>: <see cref="Key"/> with
/// role admin, <see cref="SecondKey"/> plain (role sample).
/// </summary>
public sealed class KeyedAppFixture : IAsyncLifetime
{
    public const string Key = "test-key-7f3a9c";
    public const string SecondKey = "second-key-42";

    public ServingTestApp Test { get; private set; } = null!;

    public async Task InitializeAsync() => Test = await ServingTestApp.StartAsync(access: new ApiKeyGate([ApiKeyGate.AdminPrefix + Key, SecondKey]));

    public async Task DisposeAsync() => await Test.DisposeAsync();
}

/// <summary>API keys, the open paths, and 415 for bodies that are not JSON, on the real Kestrel server.</summary>
public sealed class AccessTests(KeyedAppFixture fixture) : IClassFixture<KeyedAppFixture>
{
    ServingTestApp App => fixture.Test;
    const string SamplesPath = "/v1/models/" + TinySnapshots.ModelId + "/samples";

    static HttpRequestMessage Request(HttpMethod method, string path, string? key = null, string? body = null, string contentType = "application/json")
    {
        var r = new HttpRequestMessage(method, path);
        if (key is not null) r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (body is not null)
        {
            r.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
            if (contentType != "") r.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }
        return r;
    }

    public static TheoryData<string, string> ClosedRoutes => new()
    {
        { "GET", "/v1/models" },
        { "GET", "/v1/status" },
        { "GET", $"/v1/models/{TinySnapshots.ModelId}/history" },
        { "POST", SamplesPath },
        { "PUT", $"/v1/models/{TinySnapshots.ModelId}/pin" },
        { "DELETE", $"/v1/models/{TinySnapshots.ModelId}/pin" },
        // Routing ignores case and a trailing slash; the gate must not be passed that way.
        { "GET", "/V1/Models" },
        { "GET", "/v1/models/" },
    };

    [Theory]
    [MemberData(nameof(ClosedRoutes))]
    public async Task Every_v1_route_is_401_without_a_key_or_with_a_wrong_one(string method, string path)
    {
        string? body = method is "POST" or "PUT" ? """{"label": 1, "steps": 2, "version": 1}""" : null;
        using var none = await App.Http.SendAsync(Request(new HttpMethod(method), path, body: body));
        Assert.Contains("API key", await ErrorOf(none, HttpStatusCode.Unauthorized));
        Assert.Equal("Bearer", Assert.Single(none.Headers.WwwAuthenticate).Scheme);

        using var wrong = await App.Http.SendAsync(Request(new HttpMethod(method), path, key: KeyedAppFixture.Key + "x", body: body));
        Assert.Contains("not valid", await ErrorOf(wrong, HttpStatusCode.Unauthorized));
        Assert.Equal("Bearer", Assert.Single(wrong.Headers.WwwAuthenticate).Scheme);

        // A key in another scheme is no key.
        var basic = Request(new HttpMethod(method), path, body: body);
        basic.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("x:" + KeyedAppFixture.Key)));
        using var basicAnswer = await App.Http.SendAsync(basic);
        await ErrorOf(basicAnswer, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_sample_key_gets_403_on_pin_and_unpin_while_an_admin_key_pins()
    {
        string pinPath = $"/v1/models/{TinySnapshots.ModelId}/pin";
        using var put = await App.Http.SendAsync(Request(HttpMethod.Put, pinPath, KeyedAppFixture.SecondKey, """{"version": 1}"""));
        Assert.Contains("admin", await ErrorOf(put, HttpStatusCode.Forbidden));
        Assert.Null(App.Host.PinnedVersion);
        using var delete = await App.Http.SendAsync(Request(HttpMethod.Delete, pinPath, KeyedAppFixture.SecondKey));
        Assert.Contains("admin", await ErrorOf(delete, HttpStatusCode.Forbidden));
        // The same key still samples and reads.
        using var sample = await App.Http.SendAsync(Request(HttpMethod.Post, SamplesPath, KeyedAppFixture.SecondKey, """{"label": 1, "steps": 2, "format": "json"}"""));
        Assert.Equal(HttpStatusCode.OK, sample.StatusCode);

        using var pinned = await App.Http.SendAsync(Request(HttpMethod.Put, pinPath, KeyedAppFixture.Key, """{"version": 1}"""));
        Assert.True(pinned.IsSuccessStatusCode, $"admin pin: {(int)pinned.StatusCode} {await pinned.Content.ReadAsStringAsync()}");
        Assert.Equal(1, App.Host.PinnedVersion);
        using var unpinned = await App.Http.SendAsync(Request(HttpMethod.Delete, pinPath, KeyedAppFixture.Key));
        Assert.True(unpinned.IsSuccessStatusCode, $"admin unpin: {(int)unpinned.StatusCode}");
        Assert.Null(App.Host.PinnedVersion);
    }

    [Fact]
    public async Task The_page_carries_a_content_security_policy_allowing_only_its_own_inline_script_and_style()
    {
        using var r = await App.Http.GetAsync("/");
        var csp = string.Join(" ", r.Headers.GetValues("Content-Security-Policy"));
        Assert.DoesNotContain("unsafe-inline", csp);
        Assert.Contains("frame-ancestors 'none'", csp);
        var html = await r.Content.ReadAsStringAsync();
        var script = html[(html.IndexOf("<script>", StringComparison.Ordinal) + "<script>".Length)..html.IndexOf("</script>", StringComparison.Ordinal)];
        var hash = Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(script)));
        Assert.Contains($"script-src 'sha256-{hash}'", csp);
        // A script the page does not carry has no hash in the policy.
        Assert.DoesNotContain(Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(script + " "))), csp);
    }

    [Theory]
    [InlineData("admin:k1", "k1", ApiRole.Admin)]
    [InlineData("sample:k1", "k1", ApiRole.Sample)]
    [InlineData("k1", "k1", ApiRole.Sample)]
    [InlineData("other:k1", "other:k1", ApiRole.Sample)]
    public void A_key_entry_is_a_role_prefix_and_a_key_or_a_plain_key_of_role_sample(string entry, string key, ApiRole role) =>
        Assert.Equal((key, role), ApiKeyGate.Parse(entry));

    [Fact]
    public async Task Either_configured_key_opens_the_models_list_and_sampling()
    {
        foreach (var key in new[] { KeyedAppFixture.Key, KeyedAppFixture.SecondKey })
        {
            using var models = await App.Http.SendAsync(Request(HttpMethod.Get, "/v1/models", key));
            Assert.Equal(HttpStatusCode.OK, models.StatusCode);
            Assert.Contains(TinySnapshots.ModelId, await models.Content.ReadAsStringAsync());

            using var sample = await App.Http.SendAsync(Request(HttpMethod.Post, SamplesPath, key, """{"label": 3, "steps": 2, "seed": 1, "format": "json"}"""));
            Assert.Equal(HttpStatusCode.OK, sample.StatusCode);
            Assert.Single(JsonDocument.Parse(await sample.Content.ReadAsStringAsync()).RootElement.GetProperty("images").EnumerateArray());
        }
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    [InlineData("/metrics")]
    public async Task The_page_probes_and_metrics_stay_open(string path)
    {
        using var r = await App.Http.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    [Fact]
    public async Task The_page_knows_it_must_ask_for_a_key()
    {
        var html = await App.Http.GetStringAsync("/");
        Assert.Contains("<meta name=\"cadstream-api-key\" content=\"required\">", html);
        foreach (var id in new[] { "access", "api-key", "api-key-use", "api-key-remember", "access-message" })
            Assert.Contains($"id=\"{id}\"", html);
        // A server without keys serves the same page, marked optional.
        Assert.Contains("<meta name=\"cadstream-api-key\" content=\"optional\">", ServingPage.For(keysRequired: false));
    }

    [Fact]
    public async Task Protected_metrics_need_the_key_while_the_probes_stay_open()
    {
        await using var app = await ServingTestApp.StartAsync(publishV1: false, access: new ApiKeyGate([KeyedAppFixture.Key], protectMetrics: true));
        using (var none = await app.Http.GetAsync("/metrics")) await ErrorOf(none, HttpStatusCode.Unauthorized);
        using (var keyed = await app.Http.SendAsync(Request(HttpMethod.Get, "/metrics", KeyedAppFixture.Key)))
        {
            Assert.Equal(HttpStatusCode.OK, keyed.StatusCode);
            Assert.Contains("# TYPE ", await keyed.Content.ReadAsStringAsync());
        }
        using (var health = await app.Http.GetAsync("/healthz")) Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        using (var ready = await app.Http.GetAsync("/readyz")) Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);  // open, and not ready
    }

    [Fact]
    public void Keys_that_cannot_travel_in_a_header_are_refused_and_comparison_needs_the_whole_key()
    {
        Assert.Throws<ArgumentException>(() => new ApiKeyGate([""]));
        Assert.Throws<ArgumentException>(() => new ApiKeyGate(["two words"]));
        Assert.Throws<ArgumentException>(() => new ApiKeyGate(["clé"]));
        var gate = new ApiKeyGate(["abcdef"]);
        Assert.Null(gate.Check("Bearer abcdef"));
        Assert.Null(gate.Check("bearer abcdef"));
        Assert.NotNull(gate.Check("Bearer abcde"));
        Assert.NotNull(gate.Check("Bearer abcdefg"));
        Assert.NotNull(gate.Check("Bearer "));
        Assert.NotNull(gate.Check("abcdef"));
        Assert.NotNull(gate.Check(null));
        Assert.False(new ApiKeyGate([]).Enabled);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("text/plain; charset=utf-8")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("application/json; charset=utf-16")]
    [InlineData("")]
    public async Task A_body_that_is_not_declared_json_is_415(string contentType)
    {
        using var r = await App.Http.SendAsync(Request(HttpMethod.Post, SamplesPath, KeyedAppFixture.Key, """{"label": 1, "steps": 2}""", contentType));
        Assert.Contains("JSON", await ErrorOf(r, HttpStatusCode.UnsupportedMediaType));
        using var pin = await App.Http.SendAsync(Request(HttpMethod.Put, $"/v1/models/{TinySnapshots.ModelId}/pin", KeyedAppFixture.Key, """{"version": 1}""", contentType));
        await ErrorOf(pin, HttpStatusCode.UnsupportedMediaType);
        Assert.Null(App.Host.PinnedVersion);  // refused before the body was read
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("Application/JSON; Charset=UTF-8")]
    public async Task Json_with_or_without_a_utf8_charset_is_taken(string contentType)
    {
        using var r = await App.Http.SendAsync(Request(HttpMethod.Post, SamplesPath, KeyedAppFixture.Key, """{"label": 1, "steps": 2, "seed": 2}""", contentType));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("image/png", r.Content.Headers.ContentType?.MediaType);
    }
}
