using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CadStream.Tests.Host.Cluster;
using SkiaSharp;
using Xunit.Abstractions;

namespace CadStream.Tests.Host;

/// <summary>
/// `cadstream demo --from PATH...` as a user runs it: a folder of class-per-subfolder PNG and JPEG images becomes
/// class models of those classes at the asked size and channels, trained until a snapshot is served; bad usage is
/// exit 2 with one line.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class DemoFromTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_class_folder_trains_models_of_its_classes_at_the_asked_size_and_channels()
    {
        var folder = ClusterTestKit.TempFolder("demo-from");
        var data = ClassFolder(Path.Combine(folder, "photos"));
        int port = ClusterTestKit.FreePort();
        var stderr = new StringBuilder();
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "cadstream.dll"), "demo", "--from", data, "--size", "16", "--channels", "1",
                     "--http", $"127.0.0.1:{port}", "--snapshots", Path.Combine(folder, "snapshots"), "--duration", "4m" })  // ends by itself should the test host die
            psi.ArgumentList.Add(arg);
        var clock = Stopwatch.StartNew();
        using var demo = Process.Start(psi)!;
        demo.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) output.WriteLine(e.Data); };
        demo.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) { stderr.AppendLine(e.Data); output.WriteLine(e.Data); } };
        demo.BeginOutputReadLine();
        demo.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
            // The page answers soon after start (10 s on a quiet machine; this one is shared, so the bound is looser).
            await WaitUntilAsync(async () => await Answers(http, "/"), TimeSpan.FromSeconds(60), () => "the page");
            output.WriteLine($"page answered {clock.Elapsed.TotalSeconds:F1} s after start");

            // Both models learn the folder's classes, and a snapshot shows that they trained.
            JsonElement[] models = [];
            await WaitUntilAsync(async () =>
            {
                models = [.. (await http.GetFromJsonAsync<JsonElement>("/v1/models")).EnumerateArray()];
                return models.Length == 2 && models.All(m => m.GetProperty("snapshotVersion").ValueKind == JsonValueKind.Number);
            }, TimeSpan.FromSeconds(150), () => $"a snapshot of both models; /v1/models: {string.Join(", ", models.Select(m => m.ToString()))}; stderr: {stderr}");
            Assert.Equal(["own-baseline", "own-cad"], models.Select(m => m.GetProperty("id").GetString()).Order());
            foreach (var m in models)
            {
                Assert.Equal("class", m.GetProperty("kind").GetString());
                Assert.Equal(["circle", "square"], m.GetProperty("classes").EnumerateArray().Select(c => c.GetString()));
                Assert.True(m.GetProperty("steps").GetInt64() > 0);
            }

            // No classifier knows these classes: the node has no judge (the page then says the accuracy is off).
            var status = await http.GetFromJsonAsync<JsonElement>("/v1/status");
            Assert.Equal(JsonValueKind.Null, status.GetProperty("sampleJudge").ValueKind);

            // A sample has the asked shape: 16 x 16, and grey (a 3-channel model's noise would differ between channels).
            using var answer = await http.PostAsJsonAsync("/v1/models/own-cad/samples", new { label = "square", steps = 2, seed = 3, format = "json" });
            Assert.True(answer.IsSuccessStatusCode, await answer.Content.ReadAsStringAsync());
            var image = (await answer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("images")[0].GetString()!;
            using var bitmap = SKBitmap.Decode(Convert.FromBase64String(image));
            Assert.Equal((16, 16), (bitmap.Width, bitmap.Height));
            Assert.All(bitmap.Pixels, p => Assert.True(p.Red == p.Green && p.Green == p.Blue, $"not grey: {p}"));

            string said;
            lock (stderr) said = stderr.ToString();
            Assert.Contains("class models own-cad, own-baseline (1x16x16) with 2 classes: circle, square", said);
            Assert.Contains("live sample accuracy is off", said);
            Assert.Contains("pass 1 over --from done (12 records sent", said);
        }
        finally
        {
            if (!demo.HasExited) demo.Kill(entireProcessTree: true);
            demo.WaitForExit(30_000);
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }

    [Theory]
    [InlineData("empty", new string[0], "nothing could be read from")]
    [InlineData("no-labels", new string[0], "neither a caption nor a label")]
    [InlineData("photos", new[] { "--size", "8" }, "--size must be an integer in [16, 128]")]
    [InlineData("photos", new[] { "--size", "129" }, "--size must be an integer in [16, 128]")]
    [InlineData("photos", new[] { "--channels", "2" }, "--channels must be 3 (RGB) or 1 (grey)")]
    [InlineData("photos", new[] { "--text" }, "--text makes caption models of Fashion-MNIST")]
    [InlineData("photos", new[] { "--noise", "none" }, "--noise labels Fashion-MNIST")]
    [InlineData("missing", new string[0], "no such file or folder")]
    public void Bad_usage_is_exit_2_with_one_line(string input, string[] extra, string mentions)
    {
        var folder = ClusterTestKit.TempFolder("demo-from-usage");
        try
        {
            var path = Path.Combine(folder, input);
            if (input == "empty") Directory.CreateDirectory(path);
            if (input == "photos") ClassFolder(path);
            if (input == "no-labels")
            {
                // Images at the folder's root, with nothing beside them: no class, no caption.
                Directory.CreateDirectory(path);
                File.WriteAllBytes(Path.Combine(path, "a.png"), Image(SKColors.Red, 20, 20, SKEncodedImageFormat.Png, circle: true));
            }
            var r = CliRunner.Run(["demo", "--from", path, "--http", $"127.0.0.1:{ClusterTestKit.FreePort()}", "--duration", "20s", .. extra], timeoutSeconds: 60);
            Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}: {r.Stderr}");
            Assert.Single(r.StderrLines);
            Assert.Contains(mentions, r.Stderr);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void Shape_options_without_from_are_bad_usage()
    {
        var r = CliRunner.Run(["demo", "--size", "64", "--duration", "5s"], timeoutSeconds: 60);
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.StderrLines);
        Assert.Contains("--size goes with --from PATH", r.Stderr);
    }

    /// <summary>Two classes, three images each of both formats, of another aspect than the model's square.</summary>
    static string ClassFolder(string root)
    {
        foreach (var (name, circle) in new[] { ("circle", true), ("square", false) })
        {
            var dir = Directory.CreateDirectory(Path.Combine(root, name)).FullName;
            for (int i = 0; i < 3; i++)
            {
                var colour = new SKColor((byte)(60 * i + 40), (byte)(200 - 50 * i), 90);
                File.WriteAllBytes(Path.Combine(dir, $"{i}.png"), Image(colour, 40, 30, SKEncodedImageFormat.Png, circle));
                File.WriteAllBytes(Path.Combine(dir, $"{i}.jpg"), Image(colour, 30, 40, SKEncodedImageFormat.Jpeg, circle));
            }
        }
        return root;
    }

    static byte[] Image(SKColor colour, int width, int height, SKEncodedImageFormat format, bool circle)
    {
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        using (var paint = new SKPaint { Color = colour, IsAntialias = true })
        {
            canvas.Clear(SKColors.White);
            if (circle) canvas.DrawCircle(width / 2f, height / 2f, Math.Min(width, height) / 3f, paint);
            else canvas.DrawRect(width / 4f, height / 4f, width / 2f, height / 2f, paint);
        }
        using var data = bitmap.Encode(format, 90);
        return data.ToArray();
    }

    static async Task<bool> Answers(HttpClient http, string path)
    {
        try { return (await http.GetAsync(path)).IsSuccessStatusCode; }
        catch (HttpRequestException) { return false; }
        catch (TaskCanceledException) { return false; }
    }
}
