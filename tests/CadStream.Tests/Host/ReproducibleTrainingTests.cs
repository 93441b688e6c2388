using CadStream.Model;

namespace CadStream.Tests.Host;

/// <summary>
/// docs/reproducibility.md: `cadstream train` twice with the same seed, data and thread count on one machine,
/// then `cadstream sample --seed 0` from each snapshot, gives the same weights and the same PNG bytes, for
/// class and text models (each text run encodes its captions afresh, into its own cache folder).
/// </summary>
public class ReproducibleTrainingTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("cadstream-repro-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    sealed record Run(CadSnapshot Snapshot, byte[] Png, string TrainLog);

    Run TrainAndSample(string name, string[] train, string[] sample)
    {
        var snapshot = Path.Combine(folder, name + ".cadsnap");
        var trained = CliRunner.Run(["train", .. train, "--out", snapshot]);
        Assert.True(trained.ExitCode == 0, trained.Stderr);
        var png = Path.Combine(folder, name + ".png");
        var sampled = CliRunner.Run(["sample", "--snapshot", snapshot, .. sample, "--seed", "0", "--steps", "4", "--count", "2", "--out", png]);
        Assert.True(sampled.ExitCode == 0, sampled.Stderr);
        return new Run(CadSnapshot.Load(snapshot), File.ReadAllBytes(png), trained.Stderr);
    }

    static void AssertSame(Run a, Run b)
    {
        Assert.Equal(a.Snapshot.EmaWeights, b.Snapshot.EmaWeights);
        Assert.Equal(a.Snapshot.RawWeights, b.Snapshot.RawWeights);
        Assert.Equal(a.Snapshot.OptimizerState, b.Snapshot.OptimizerState);
        Assert.Equal(a.Png, b.Png);
    }

    static string[] Tiny(int seed, params string[] more) =>
        ["--steps", "6", "--warmup", "2", "--batch", "16", "--width", "16", "--limit", "128", "--seed", seed.ToString(), .. more];

    [Fact]
    public void A_class_model_trained_twice_with_one_seed_gives_the_same_weights_and_images()
    {
        var first = TrainAndSample("a", Tiny(3, "--threads", "1"), ["--label", "all"]);
        Assert.Contains("threads=1", first.TrainLog);
        AssertSame(first, TrainAndSample("b", Tiny(3, "--threads", "1"), ["--label", "all"]));
        // The seed decides: another one trains other weights.
        Assert.NotEqual(first.Snapshot.EmaWeights, TrainAndSample("c", Tiny(4, "--threads", "1"), ["--label", "all"]).Snapshot.EmaWeights);
    }

    [Fact]
    public void A_text_model_trained_twice_with_one_seed_gives_the_same_weights_and_images()
    {
        string[] Text(string cache) => Tiny(3, "--condition", "text", "--mode", "cfg", "--text-cache", Path.Combine(folder, cache));
        string[] prompt = ["--prompt", "a pair of trousers", "--guidance", "2"];
        var first = TrainAndSample("text-a", Text("cache-a"), prompt);
        var second = TrainAndSample("text-b", Text("cache-b"), prompt);
        Assert.Contains("captions: 128 encoded", first.TrainLog);
        Assert.Contains("captions: 128 encoded", second.TrainLog);
        AssertSame(first, second);
    }
}
