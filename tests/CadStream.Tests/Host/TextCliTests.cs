using CadStream.Model;
using SkiaSharp;
using CadStream.Catalog;

namespace CadStream.Tests.Host;

/// <summary>
/// Text models from the command line: `train --condition text` writes a text snapshot that names its
/// encoder; `sample --prompt` draws from it, the same seed giving the same images; `eval` measures it with
/// held-out prompts; the condition flags of the other kind are usage errors.
/// </summary>
public class TextCliTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("cadstream-textcli-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void A_text_model_trains_from_captions_and_samples_a_prompt_the_same_way_twice()
    {
        var snapshot = Path.Combine(folder, "text.cadsnap");
        var cache = Path.Combine(folder, "cache");
        var train = CliRunner.Run(["train", "--condition", "text", "--mode", "cad", "--noise", "entropy", "--steps", "3", "--batch", "16",
            "--width", "16", "--limit", "256", "--text-cache", cache, "--out", snapshot]);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("captions: 256 encoded", train.Stderr);
        var saved = CadSnapshot.Load(snapshot);
        Assert.Equal(ConditionKind.Text, saved.Spec.Kind);
        Assert.StartsWith("all-MiniLM-L6-v2", saved.TextEncoder);
        // The captions' token states were cached: a second run reads them instead of encoding again.
        var again = CliRunner.Run(["train", "--condition", "text", "--steps", "1", "--batch", "16", "--width", "16", "--limit", "256",
            "--text-cache", cache, "--out", Path.Combine(folder, "again.cadsnap")]);
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Contains("token states from", again.Stderr);

        byte[] Sample(string prompt, string name)
        {
            var png = Path.Combine(folder, name);
            var r = CliRunner.Run(["sample", "--snapshot", snapshot, "--prompt", prompt, "--coherence", "1", "--guidance", "2",
                "--steps", "3", "--seed", "5", "--count", "3", "--out", png]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            Assert.Contains($"\"{prompt}\"", r.Stderr);
            return File.ReadAllBytes(png);
        }
        var first = Sample("a pair of trousers", "a.png");
        using (var bitmap = SKBitmap.Decode(first))
        {
            Assert.Equal(3 * 56 + 4 * 2, bitmap.Width);
            Assert.Equal(56 + 2 * 2, bitmap.Height);
        }
        Assert.Equal(first, Sample("a pair of trousers", "b.png"));

        // eval asks a text model for each class with held-out prompts, with the sweeps.
        var report = Path.Combine(folder, "report");
        var eval = CliRunner.Run(["eval", "--snapshot", snapshot, "--classifier", CadStream.Tests.Model.TestClassifier.File, "--n", "20", "--sweep-n", "10",
            "--steps", "2", "--out", report]);
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        var markdown = File.ReadAllText(Path.Combine(report, "report.md"));
        Assert.Contains("Coherence sweep", markdown);
        Assert.True(File.Exists(Path.Combine(report, "grid_coherence.png")));
    }

    [Fact]
    public void The_other_kinds_condition_flags_are_usage_errors()
    {
        var classModel = Path.Combine(folder, "class.cadsnap");
        Assert.Equal(0, CliRunner.Run(["train", "--steps", "1", "--batch", "8", "--width", "16", "--limit", "64", "--out", classModel]).ExitCode);
        var r = CliRunner.Run(["sample", "--snapshot", classModel, "--prompt", "a bag"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("is a class model", r.Stderr);
        r = CliRunner.Run(["train", "--condition", "words", "--steps", "1"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--condition: unknown condition kind 'words'; expected class, text, segmap", r.Stderr);
        r = CliRunner.Run(["train", "--condition", "text", "--resume", classModel, "--steps", "1", "--limit", "16", "--text-cache", Path.Combine(folder, "c"),
            "--out", Path.Combine(folder, "x.cadsnap")]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("holds a class model", r.Stderr);
    }
}
