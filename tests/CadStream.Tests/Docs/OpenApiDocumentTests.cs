using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CadStream.Model.Scheduling;
using CadStream.Serving;
using CadStream.Tests.Serving;

namespace CadStream.Tests.Docs;

/// <summary>
/// GET /openapi/v1.json, generated from the endpoints: OpenAPI 3.1, open without a key, the bearer scheme where the keys
/// apply; its routes and body fields are those of docs/interfaces.md, its examples run, its schemas are what the API answers.
/// </summary>
public sealed class OpenApiDocumentTests(KeyedAppFixture fixture) : IClassFixture<KeyedAppFixture>
{
    ServingTestApp App => fixture.Test;
    static readonly string[] OpenRoutes = ["GET /", "GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi/v1.json"];

    /// <summary>The document as a user's tool fetches it: no key.</summary>
    static async Task<JsonElement> DocumentAsync(ServingTestApp app)
    {
        using var r = await app.Http.GetAsync(OpenApiDescription.Route);
        var text = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, $"{(int)r.StatusCode}: {text}");
        Assert.Equal("application/json", r.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Each operation as "METHOD /path" with its object.</summary>
    static Dictionary<string, JsonElement> Operations(JsonElement doc) =>
        doc.GetProperty("paths").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject().Select(m => ($"{m.Name.ToUpperInvariant()} {p.Name}", m.Value)))
            .ToDictionary(o => o.Item1, o => o.Value);

    /// <summary>A schema with its $ref followed and a nullable's null branch dropped.</summary>
    static JsonElement Resolve(JsonElement doc, JsonElement schema)
    {
        while (true)
        {
            if (schema.TryGetProperty("$ref", out var r))
                schema = doc.GetProperty("components").GetProperty("schemas").GetProperty(r.GetString()!["#/components/schemas/".Length..]);
            else if (schema.TryGetProperty("oneOf", out var one) || schema.TryGetProperty("anyOf", out one))
                schema = one.EnumerateArray().Single(s => !(s.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "null"));
            else return schema;
        }
    }

    static IEnumerable<string> ErrorFields(JsonElement doc, JsonElement op, string code) =>
        Resolve(doc, op.GetProperty("responses").GetProperty(code).GetProperty("content").GetProperty("application/json").GetProperty("schema"))
            .GetProperty("properties").EnumerateObject().Select(p => p.Name);

    static HttpRequestMessage Keyed(HttpMethod method, string path)
    {
        var r = new HttpRequestMessage(method, path);
        r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", KeyedAppFixture.Key);
        return r;
    }

    [Fact]
    public async Task The_document_is_OpenAPI_3_1_open_without_a_key_with_the_bearer_scheme_on_every_keyed_route()
    {
        using (var closed = await App.Http.GetAsync("/v1/models"))
            Assert.Equal(HttpStatusCode.Unauthorized, closed.StatusCode);  // the node has keys, and the document is still open
        var doc = await DocumentAsync(App);
        Assert.StartsWith("3.1.", doc.GetProperty("openapi").GetString());
        var bearer = doc.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer");
        Assert.Equal("http", bearer.GetProperty("type").GetString());
        Assert.Equal("bearer", bearer.GetProperty("scheme").GetString());

        var operations = Operations(doc);
        foreach (var (route, op) in operations)
        {
            bool open = OpenRoutes.Contains(route);
            Assert.True(open != route.Contains(" /v1/", StringComparison.Ordinal), $"{route}: neither a /v1 route nor an open one");
            if (open) Assert.False(op.TryGetProperty("security", out _), $"{route} is open but the document asks for a key");
            else
            {
                var requirement = Assert.Single(op.GetProperty("security").EnumerateArray());
                Assert.Equal("bearer", Assert.Single(requirement.EnumerateObject()).Name);
                Assert.Equal(["error"], ErrorFields(doc, op, "401"));
            }
            // Every error of every route, whatever its code, is {"error": ...}.
            Assert.Equal(["error"], ErrorFields(doc, op, "default"));
        }
        Assert.Equal(OpenRoutes.Order(), operations.Keys.Where(OpenRoutes.Contains).Order());
    }

    [Fact]
    public async Task Without_keys_the_document_asks_for_none()
    {
        await using var open = await ServingTestApp.StartAsync(publishV1: false);
        var doc = await DocumentAsync(open);
        Assert.True(doc.GetProperty("components").GetProperty("securitySchemes").TryGetProperty("bearer", out _));
        foreach (var (route, op) in Operations(doc))
            Assert.False(op.TryGetProperty("security", out _), $"{route} asks for a key on a node without keys");
    }

    [Fact]
    public async Task Every_route_and_body_field_of_the_interfaces_page_is_in_the_document_and_back()
    {
        var doc = await DocumentAsync(App);
        var operations = Operations(doc);
        Assert.Equal(InterfacesDoc.Routes().Order(), operations.Keys.Order());

        var inDocument = operations
            .Where(o => o.Value.TryGetProperty("requestBody", out _))
            .SelectMany(o => Resolve(doc, o.Value.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema"))
                .GetProperty("properties").EnumerateObject().Select(p => (o.Key, p.Name)))
            .Order().ToArray();
        Assert.Equal(InterfacesDoc.BodyFields().Order(), inDocument);

        // The values a field takes are the ones the server parses: every sampler by its contract name, both formats.
        var sample = Resolve(doc, operations["POST /v1/models/{id}/samples"].GetProperty("requestBody").GetProperty("content")
            .GetProperty("application/json").GetProperty("schema")).GetProperty("properties");
        Assert.Equal(Enum.GetValues<SamplerKind>().Select(k => k.Name()).Order(),
            sample.GetProperty("sampler").GetProperty("enum").EnumerateArray().Select(e => e.GetString()!).Order());
        Assert.Equal(["png", "json"], sample.GetProperty("format").GetProperty("enum").EnumerateArray().Select(e => e.GetString()!));
        // A label is an index or a name.
        Assert.Equal(["integer", "null", "string"], sample.GetProperty("label").GetProperty("type").EnumerateArray().Select(e => e.GetString()!).Order());
    }

    [Fact]
    public async Task The_status_schema_has_exactly_the_fields_of_the_status_table()
    {
        var doc = await DocumentAsync(App);
        var status = Resolve(doc, Operations(doc)["GET /v1/status"].GetProperty("responses").GetProperty("200").GetProperty("content")
            .GetProperty("application/json").GetProperty("schema"));
        var inSchema = new List<(string, string)>();
        void Walk(JsonElement schema, string path)
        {
            foreach (var p in schema.GetProperty("properties").EnumerateObject())
            {
                inSchema.Add((path, p.Name));
                var child = Resolve(doc, p.Value);
                var at = path == "." ? p.Name : $"{path}.{p.Name}";
                if (child.TryGetProperty("properties", out _)) Walk(child, at);
                else if (child.TryGetProperty("items", out var items) && Resolve(doc, items).TryGetProperty("properties", out _)) Walk(Resolve(doc, items), at + "[]");
            }
        }
        Walk(status, ".");
        var documented = InterfacesDoc.StatusRows().SelectMany(r => r.Fields.Select(f => (r.Object, f)));
        Assert.Equal(documented.Order(), inSchema.Order());
    }

    [Fact]
    public async Task A_request_built_from_the_documents_example_samples_a_served_model()
    {
        var doc = await DocumentAsync(App);
        var (route, op) = Operations(doc).Single(o => o.Key == "POST /v1/models/{id}/samples");
        var (contentType, body) = op.GetProperty("requestBody").GetProperty("content").EnumerateObject().Select(c => (c.Name, c.Value)).Single();
        var example = body.GetProperty("examples").GetProperty("class").GetProperty("value");

        var request = new HttpRequestMessage(new HttpMethod(route.Split(' ')[0]), route.Split(' ')[1].Replace("{id}", TinySnapshots.ModelId, StringComparison.Ordinal))
        {
            Content = new ByteArrayContent(Encoding.UTF8.GetBytes(example.GetRawText())),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        if (op.TryGetProperty("security", out _)) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", KeyedAppFixture.Key);
        using var answer = await App.Http.SendAsync(request);
        var bytes = await answer.Content.ReadAsByteArrayAsync();
        Assert.True(answer.StatusCode == HttpStatusCode.OK, $"{(int)answer.StatusCode}: {Encoding.UTF8.GetString(bytes)}");

        // What the document says a 200 is, for the format the example asks for.
        var declared = op.GetProperty("responses").GetProperty("200").GetProperty("content").EnumerateObject().Select(c => c.Name).ToArray();
        Assert.Equal("png", example.GetProperty("format").GetString());
        Assert.Contains(answer.Content.Headers.ContentType!.MediaType!, declared);
        Assert.Equal("image/png", answer.Content.Headers.ContentType.MediaType);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
        Assert.Equal(example.GetProperty("sampler").GetString(), Assert.Single(answer.Headers.GetValues("X-Sampler")));
        Assert.Equal(example.GetProperty("seed").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture), Assert.Single(answer.Headers.GetValues("X-Seed")));
    }

    [Fact]
    public async Task The_answers_have_the_documents_schemas()
    {
        var doc = await DocumentAsync(App);
        var operations = Operations(doc);
        string Path(string route) => route.Split(' ')[1].Replace("{id}", TinySnapshots.ModelId, StringComparison.Ordinal);

        async Task CheckAsync(string route, HttpRequestMessage request)
        {
            using var answer = await App.Http.SendAsync(request);
            var text = await answer.Content.ReadAsStringAsync();
            Assert.True(answer.StatusCode == HttpStatusCode.OK, $"{route}: {(int)answer.StatusCode} {text}");
            var schema = operations[route].GetProperty("responses").GetProperty("200").GetProperty("content").GetProperty("application/json").GetProperty("schema");
            Matches(doc, JsonDocument.Parse(text).RootElement, schema, route);
        }

        foreach (var route in new[] { "GET /v1/models", "GET /v1/status", "GET /v1/models/{id}/history" })
            await CheckAsync(route, Keyed(HttpMethod.Get, Path(route)));
        var json = Keyed(HttpMethod.Post, Path("POST /v1/models/{id}/samples"));
        json.Content = new StringContent("""{"label": 2, "steps": 2, "seed": 3, "count": 2, "format": "json"}""", Encoding.UTF8, "application/json");
        await CheckAsync("POST /v1/models/{id}/samples", json);
        await CheckAsync("DELETE /v1/models/{id}/pin", Keyed(HttpMethod.Delete, Path("DELETE /v1/models/{id}/pin")));

        // A request past Serving:MaxRequestCost: the 429 with its cost and limit.
        var costly = Keyed(HttpMethod.Post, Path("POST /v1/models/{id}/samples"));
        costly.Content = new StringContent("""{"label": 2, "steps": 1000, "count": 64}""", Encoding.UTF8, "application/json");
        using var cost = await App.Http.SendAsync(costly);
        Assert.Equal(HttpStatusCode.TooManyRequests, cost.StatusCode);
        var costAnswer = JsonDocument.Parse(await cost.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(64_000, costAnswer.GetProperty("cost").GetInt64());
        Matches(doc, costAnswer,
            operations["POST /v1/models/{id}/samples"].GetProperty("responses").GetProperty("429").GetProperty("content").GetProperty("application/json").GetProperty("schema"), "429");
    }

    /// <summary>Every field of <paramref name="value"/> is in its schema, and every field the schema requires is in the value, all the way down.</summary>
    static void Matches(JsonElement doc, JsonElement value, JsonElement schema, string where)
    {
        if (value.ValueKind == JsonValueKind.Null) return;
        schema = Resolve(doc, schema);
        switch (value.ValueKind)
        {
            case JsonValueKind.Object when schema.TryGetProperty("properties", out var properties):
                foreach (var field in value.EnumerateObject())
                {
                    Assert.True(properties.TryGetProperty(field.Name, out var fieldSchema), $"{where}: '{field.Name}' is answered but not in the schema");
                    Matches(doc, field.Value, fieldSchema, $"{where}.{field.Name}");
                }
                if (schema.TryGetProperty("required", out var required))
                    foreach (var name in required.EnumerateArray())
                        Assert.True(value.TryGetProperty(name.GetString()!, out _), $"{where}: the schema requires '{name}', the answer lacks it");
                break;
            case JsonValueKind.Array when schema.TryGetProperty("items", out var items):
                foreach (var item in value.EnumerateArray()) Matches(doc, item, items, $"{where}[]");
                break;
        }
    }
}
