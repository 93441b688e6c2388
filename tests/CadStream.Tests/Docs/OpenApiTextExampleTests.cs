using System.Net;
using System.Text;
using System.Text.Json;
using CadStream.Catalog;
using CadStream.Catalog.Text;
using CadStream.Model.Training;
using CadStream.Serving;
using CadStream.Snapshots;
using CadStream.Tests.Model;
using CadStream.Tests.Text;
using CadStream.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CadStream.Tests.Docs;

/// <summary>The OpenAPI document's text example samples a text model as it stands (the class example: <see cref="OpenApiDocumentTests"/>).</summary>
[Collection(MiniLmFixture.Name)]
public sealed class OpenApiTextExampleTests(MiniLmFixture minilm)
{
    [Fact]
    public async Task A_request_built_from_the_documents_text_example_samples_a_text_model()
    {
        const string id = "text-example";
        var spec = TestModels.TinyText() with { Id = id, Seed = 3 };
        var root = Path.Combine(Path.GetTempPath(), "cadstream-tests", "openapi-text-" + Guid.NewGuid().ToString("N"));
        var store = new FolderSnapshotStore(root, new FolderSnapshotStoreOptions { PollInterval = TimeSpan.FromMilliseconds(200) });
        using (var trainer = new CadTrainer(spec, TestModels.Cpu) { TextEncoder = minilm.Encoder.Identity })
            await store.PublishAsync(id, trainer.ToSnapshot(1, includeTrainingState: false).ToBytes(), 1, 1, 8);
        var app = ServingApp.BuildServingApp(Serving.ServingTestApp.FastOptions, store, new ModelCatalog([spec]), url: "http://127.0.0.1:0",
            configure: b => { b.Logging.ClearProviders(); b.Services.AddSingleton<ITextEncoder>(new CachedTextEncoder(minilm.Encoder)); });
        try
        {
            await app.StartAsync();
            using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()), Timeout = TimeSpan.FromSeconds(60) };
            var runtime = app.Services.GetRequiredService<ServingRuntime>();
            await WaitUntilAsync(() => runtime.Hosts[id].Current is not null, TimeSpan.FromSeconds(30), () => "the text snapshot served");

            var doc = JsonDocument.Parse(await http.GetStringAsync(OpenApiDescription.Route)).RootElement;
            var example = doc.GetProperty("paths").GetProperty("/v1/models/{id}/samples").GetProperty("post").GetProperty("requestBody")
                .GetProperty("content").GetProperty("application/json").GetProperty("examples").GetProperty("text").GetProperty("value");
            using var answer = await http.PostAsync($"/v1/models/{id}/samples", new StringContent(example.GetRawText(), Encoding.UTF8, "application/json"));
            var text = await answer.Content.ReadAsStringAsync();
            Assert.True(answer.StatusCode == HttpStatusCode.OK, $"{(int)answer.StatusCode}: {text}");
            Assert.Equal(example.GetProperty("count").GetInt32(), JsonDocument.Parse(text).RootElement.GetProperty("images").GetArrayLength());
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            await store.DisposeAsync();
            Directory.Delete(root, recursive: true);
        }
    }
}
