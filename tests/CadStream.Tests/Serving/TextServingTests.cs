using System.Net;
using System.Text;
using System.Text.Json;
using CadStream.Model.Training;
using CadStream.Serving;
using CadStream.Snapshots;
using CadStream.Tests.Model;
using CadStream.Tests.Text;
using CadStream.Text;
using CsCheck;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using CadStream.Catalog;
using CadStream.Catalog.Text;
using static CadStream.Tests.Serving.HttpErrors;

namespace CadStream.Tests.Serving;

/// <summary>
/// A text model behind the real serving app and the real MiniLM: prompts in, PNGs out; the prompt's and
/// the label's places are not confused (400 with a reason); a snapshot learned under another text encoder
/// is not served.
/// </summary>
[Collection(MiniLmFixture.Name)]
public sealed class TextServingTests(MiniLmFixture minilm, Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    const string TextId = "text-cad", ClassId = "class-cad";
    readonly string root = Path.Combine(Path.GetTempPath(), "cadstream-tests", "text-serving-" + Guid.NewGuid().ToString("N"));
    FolderSnapshotStore store = null!;
    WebApplication app = null!;
    HttpClient http = null!;

    static ModelSpec TextSpec => TestModels.TinyText() with { Id = TextId, Seed = 3 };
    static ModelSpec ClassSpec => TestModels.Tiny() with { Id = ClassId };

    static byte[] Snapshot(ModelSpec spec, string? encoder)
    {
        using var trainer = new CadTrainer(spec, TestModels.Cpu) { TextEncoder = encoder };
        return trainer.ToSnapshot(1, includeTrainingState: false).ToBytes();
    }

    public async Task InitializeAsync()
    {
        _ = TestModels.Cpu;
        store = new FolderSnapshotStore(root, new FolderSnapshotStoreOptions { PollInterval = TimeSpan.FromMilliseconds(200) });
        await store.PublishAsync(TextId, Snapshot(TextSpec, minilm.Encoder.Identity), 1, 1, 8);
        await store.PublishAsync(ClassId, Snapshot(ClassSpec, null), 1, 1, 8);
        var encoder = new CachedTextEncoder(minilm.Encoder);
        app = ServingApp.BuildServingApp(ServingTestApp.FastOptions, store, new ModelCatalog([TextSpec, ClassSpec]), url: "http://127.0.0.1:0",
            configure: b => { b.Logging.ClearProviders(); b.Services.AddSingleton<ITextEncoder>(encoder); });
        await app.StartAsync();
        http = new HttpClient { BaseAddress = new Uri(app.Urls.First()), Timeout = TimeSpan.FromSeconds(60) };
        var runtime = app.Services.GetRequiredService<ServingRuntime>();
        await ClusterWait(() => runtime.Hosts[TextId].Current is not null && runtime.Hosts[ClassId].Current is not null, "both snapshots served");
    }

    public async Task DisposeAsync()
    {
        http.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
        await store.DisposeAsync();
        Directory.Delete(root, recursive: true);
    }

    static async Task ClusterWait(Func<bool> condition, string what) =>
        await WaitUntilAsync(condition, TimeSpan.FromSeconds(30), () => what);

    Task<HttpResponseMessage> Post(string model, string json) =>
        http.PostAsync($"/v1/models/{model}/samples", new StringContent(json, Encoding.UTF8, "application/json"));

    [Fact]
    public async Task A_prompt_gives_pngs_and_the_same_seed_the_same_images()
    {
        const string body = """{"prompt": "a pair of ankle boots", "coherence": 0.8, "guidance": 2, "steps": 3, "seed": 5, "count": 2, "format": "json"}""";
        var first = await Post(TextId, body);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var images = JsonDocument.Parse(await first.Content.ReadAsStringAsync()).RootElement.GetProperty("images");
        Assert.Equal(2, images.GetArrayLength());
        using (var bitmap = SkiaSharp.SKBitmap.Decode(Convert.FromBase64String(images[0].GetString()!))) Assert.Equal(28, bitmap.Width);
        var again = await (await Post(TextId, body)).Content.ReadAsStringAsync();
        Assert.Equal(images.ToString(), JsonDocument.Parse(again).RootElement.GetProperty("images").ToString());
        // A negative prompt of the user's is taken too.
        var negative = await Post(TextId, """{"prompt": "a sneaker", "negativePrompt": "blurry", "steps": 2, "seed": 1}""");
        Assert.Equal(HttpStatusCode.OK, negative.StatusCode);
    }

    [Theory]
    [InlineData(TextId, """{"label": 3}""", "send a prompt, not a label")]
    [InlineData(TextId, """{"prompt": "boots", "label": 3}""", "send a prompt, not a label")]
    [InlineData(TextId, """{"coherence": 1}""", "prompt is required")]
    [InlineData(TextId, """{"prompt": "   "}""", "prompt is empty")]
    [InlineData(TextId, """{"prompt": 7}""", "prompt must be a string")]
    [InlineData(ClassId, """{"prompt": "a sneaker"}""", "send a label, not a prompt")]
    [InlineData(ClassId, """{"label": 1, "negativePrompt": "x"}""", "send a label, not a prompt")]
    public async Task The_wrong_condition_for_a_model_is_400_with_the_reason(string model, string body, string expected) =>
        Assert.Contains(expected, await ErrorOf(await Post(model, body)));

    [Fact]
    public async Task An_over_long_prompt_is_400_and_models_lists_the_kind_and_the_encoder()
    {
        var message = await ErrorOf(await Post(TextId, JsonSerializer.Serialize(new { prompt = new string('a', 1001) })));
        Assert.Contains("1001 characters exceeds 1000", message);
        Assert.Equal(HttpStatusCode.OK, (await Post(TextId, JsonSerializer.Serialize(new { prompt = new string('a', 1000), steps = 1 }))).StatusCode);
        var models = JsonDocument.Parse(await http.GetStringAsync("/v1/models")).RootElement.EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!);
        Assert.Equal("text", models[TextId].GetProperty("kind").GetString());
        Assert.Equal(minilm.Encoder.Identity, models[TextId].GetProperty("textEncoder").GetString());
        Assert.Equal("class", models[ClassId].GetProperty("kind").GetString());
    }

    /// <summary>Text a tokenizer may trip on: controls, NUL, joiners, combining marks, scripts, emoji, up to the length limit in 4-byte characters.</summary>
    static readonly Gen<string> HostileText = Gen.Frequency<string>(
        (3, Gen.String),
        (2, Gen.OneOf("\u0000", "\u0000\u0000 boots", "\t\r\n", "\u200d\u200d", "\u202eboots", "e\u0301\u0301\u0301", "\ufeff", "\uffff", "[CLS] [SEP] [PAD]",
            "[UNK]", "##", "ﷺ", "𝔟𝔬𝔬𝔱𝔰", "靴", "ブーツ", "ботинки", "\ud83d\ude00", "https://x.y/?a=1&b=<script>", "a", "")),
        (1, Gen.Select(Gen.OneOf("😀", "e\u0301", "x", "靴 ", "\u0000"), Gen.Int[100, 1000], (unit, n) => string.Concat(Enumerable.Repeat(unit, n)))
            .Select(t => string.Concat(t.EnumerateRunes().Take(1000).Select(r => r.ToString())))));

    [Fact]
    public async Task Generated_prompts_get_images_or_a_400_with_a_reason()
    {
        int ok = 0, refused = 0;
        await Gen.Select(HostileText, HostileText.Null(0.5)).SampleAsync(async (prompt, negative) =>
        {
            var r = await Post(TextId, JsonSerializer.Serialize(new { prompt, negativePrompt = negative, steps = 1, seed = 1 }));
            if (r.StatusCode == HttpStatusCode.OK)
            {
                Interlocked.Increment(ref ok);
                Assert.Equal("image/png", r.Content.Headers.ContentType?.MediaType);
                return;
            }
            Interlocked.Increment(ref refused);
            Assert.False(string.IsNullOrWhiteSpace(await ErrorOf(r)));
        }, iter: 60, writeLine: output.WriteLine);  // each long prompt costs the encoder tens of ms
        output.WriteLine($"{ok} prompts sampled, {refused} refused");
        Assert.True(ok >= 25, $"only {ok} prompts sampled");
    }

    [Fact]
    public async Task A_snapshot_learned_under_another_encoder_is_not_served()
    {
        await store.PublishAsync(TextId, Snapshot(TextSpec, "some-other-encoder sha256:0000"), 2, 2, 16);
        var runtime = app.Services.GetRequiredService<ServingRuntime>();
        await ClusterWait(() => runtime.Follower.LastErrors.TryGetValue(TextId, out var e) && e.Contains("some-other-encoder"), "the follower to refuse v2");
        Assert.Equal(1, runtime.Hosts[TextId].Current!.Version);
    }
}
