using CadStream.Model;
using CadStream.Snapshots;
using CadStream.Snapshots.Redis;
using SkiaSharp;

namespace CadStream.Tests.Host;

/// <summary>The cadstream executable end to end: exit codes, one-line errors, train then sample.</summary>
public class CliTests : IClassFixture<CliTests.TrainedSnapshot>
{
    /// <summary>One tiny offline training run shared by the tests that need a snapshot.</summary>
    public sealed class TrainedSnapshot : IDisposable
    {
        public string Folder { get; } = Directory.CreateTempSubdirectory("cadstream-cli-").FullName;
        public string Path => System.IO.Path.Combine(Folder, "tiny.cadsnap");
        public CliResult Train { get; }

        public TrainedSnapshot()
        {
            Train = CliRunner.Run(["train", "--mode", "cad", "--noise", "entropy", "--steps", "4", "--batch", "16",
                "--width", "16", "--limit", "512", "--out", Path]);
        }

        public void Dispose() => Directory.Delete(Folder, recursive: true);
    }

    private readonly TrainedSnapshot trained;
    public CliTests(TrainedSnapshot trained) => this.trained = trained;

    static void AssertUsageError(CliResult r, string mentions)
    {
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.StderrLines);
        Assert.Contains(mentions, r.Stderr);
    }

    [Fact]
    public void Train_writes_a_loadable_snapshot_with_progress()
    {
        Assert.True(trained.Train.ExitCode == 0, trained.Train.Stderr);
        Assert.Contains("labels wrong", trained.Train.Stderr);
        Assert.Matches(@"step 4/4\s+loss [0-9.]+\s+\d+ img/s\s+ETA", trained.Train.Stderr);
        var snap = CadSnapshot.Load(trained.Path);
        Assert.Equal(4, snap.Steps);
        Assert.Equal(64, snap.SamplesSeen);
        Assert.Equal("Sneaker", snap.Spec.Classes[7]);
        Assert.NotNull(snap.OptimizerState);
    }

    [Fact]
    public void Sample_writes_a_png_grid_and_names_its_sampler_as_the_user_does()
    {
        var png = System.IO.Path.Combine(trained.Folder, "grid.png");
        var r = CliRunner.Run(["sample", "--snapshot", trained.Path, "--label", "Sneaker", "--coherence", "1", "--guidance", "1",
            "--steps", "3", "--sampler", "dpm++", "--seed", "7", "--count", "4", "--out", png]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains(r.StderrLines, l => l.Contains($"wrote {png}", StringComparison.Ordinal) && l.Contains(", 3 dpm++ steps,", StringComparison.Ordinal));
        using var bitmap = SKBitmap.Decode(png);
        Assert.NotNull(bitmap);
        Assert.Equal(4 * 56 + 5 * 2, bitmap.Width);   // 4 images of 28 px at scale 2, 2 px gaps
        Assert.Equal(56 + 2 * 2, bitmap.Height);
    }

    [Fact]
    public void Bad_coherence_is_usage_error() =>
        AssertUsageError(CliRunner.Run(["sample", "--snapshot", trained.Path, "--coherence", "7"]), "--coherence must be a number in [0, 1]");

    [Fact]
    public void Unknown_class_is_usage_error() =>
        AssertUsageError(CliRunner.Run(["sample", "--snapshot", trained.Path, "--label", "Spaceship"]), "unknown class 'Spaceship'");

    [Fact]
    public void Missing_snapshot_is_usage_error() =>
        AssertUsageError(CliRunner.Run(["sample", "--snapshot", "/nonexistent/model.cadsnap"]), "does not exist");

    [Fact]
    public void Corrupted_snapshot_is_one_line_error()
    {
        var bad = System.IO.Path.Combine(trained.Folder, "bad.cadsnap");
        var bytes = File.ReadAllBytes(trained.Path);
        bytes[bytes.Length / 3] ^= 1;
        File.WriteAllBytes(bad, bytes);
        AssertUsageError(CliRunner.Run(["sample", "--snapshot", bad]), "checksum");
    }

    [Theory]
    [InlineData("train", "--mode", "magic", "unknown mode 'magic'")]
    [InlineData("train", "--steps", "-3", "--steps must be an integer")]
    [InlineData("train", "--bogus", "1", "unknown option --bogus")]
    [InlineData("frobnicate", "", "", "unknown command 'frobnicate'")]
    public void Bad_arguments_exit_2_with_one_line(string command, string a, string b, string mentions)
    {
        var args = new[] { command, a, b }.Where(s => s.Length > 0);
        AssertUsageError(CliRunner.Run(args), mentions);
    }

    [Fact]
    public void Every_command_has_help()
    {
        foreach (var c in new[] { "train", "sample", "train-classifier" })
        {
            var r = CliRunner.Run([c, "--help"]);
            Assert.Equal(0, r.ExitCode);
            Assert.Contains($"usage: cadstream {c}", r.Stdout);
        }
        Assert.Equal(0, CliRunner.Run(["--help"]).ExitCode);
    }

    [Fact]
    public void Cuda_request_without_cuda_is_one_clear_line()
    {
        var r = CliRunner.Run(["sample", "--snapshot", trained.Path, "--steps", "1", "--count", "1", "--out", System.IO.Path.Combine(trained.Folder, "x.png")],
            new Dictionary<string, string> { ["CADSTREAM_DEVICE"] = "cuda", ["CADSTREAM_LIBTORCH"] = "" });
        Assert.Equal(1, r.ExitCode);
        Assert.Single(r.StderrLines);
        Assert.Contains("CADSTREAM_LIBTORCH", r.Stderr);
    }

    [Fact]
    public void Missing_dataset_names_the_package()
    {
        var r = CliRunner.Run(["train", "--steps", "1", "--out", System.IO.Path.Combine(trained.Folder, "never.cadsnap")],
            new Dictionary<string, string> { ["CADSTREAM_DATA"] = "/nonexistent/fashion" });
        Assert.Equal(1, r.ExitCode);
        Assert.Single(r.StderrLines);
        Assert.Contains("dataset-fashion-mnist", r.Stderr);
    }
}

/// <summary>`cadstream eval` writes the whole report on a tiny snapshot and a quickly trained classifier.</summary>
public class EvalCliTests
{
    [Fact]
    public void Eval_writes_report_json_markdown_and_pngs()
    {
        var dir = Directory.CreateTempSubdirectory("cadstream-eval-").FullName;
        try
        {
            var snap = Path.Combine(dir, "t.cadsnap");
            var clf = Path.Combine(dir, "c.bin");
            Assert.Equal(0, CliRunner.Run(["train", "--steps", "2", "--width", "16", "--limit", "256", "--batch", "16", "--out", snap]).ExitCode);
            var c = CliRunner.Run(["train-classifier", "--limit", "1500", "--epochs", "1", "--out", clf]);
            Assert.True(c.ExitCode == 0, c.Stderr);
            var outDir = Path.Combine(dir, "report");
            var r = CliRunner.Run(["eval", "--snapshot", snap, "--classifier", clf, "--n", "40", "--sweep-n", "20", "--steps", "2", "--out", outDir]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            foreach (var f in new[] { "report.md", "report.json", "grid_coherence.png", "grid_guidance.png", "sweep_coherence.png", "sweep_guidance.png" })
                Assert.True(new FileInfo(Path.Combine(outDir, f)).Length > 100, $"{f} missing or empty");
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")));
            var root = json.RootElement;
            Assert.Equal(8, root.GetProperty("coherenceSweep").GetArrayLength());
            Assert.Equal(7, root.GetProperty("guidanceSweep").GetArrayLength());
            var acc = root.GetProperty("main").GetProperty("accuracy").GetDouble();
            Assert.InRange(acc, 0, 1);
            Assert.Contains("## Coherence sweep", File.ReadAllText(Path.Combine(outDir, "report.md")));
            using var grid = SKBitmap.Decode(Path.Combine(outDir, "grid_coherence.png"));
            Assert.Equal(8 * 56 + 9 * 2, grid.Height);  // 8 coherence rows
        }
        finally { Directory.Delete(dir, true); }
    }
}
