using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CadStream.Catalog;
using CadStream.Catalog.Text;
using CadStream.Data;
using CadStream.Data.Examples;
using CadStream.Evaluation.Metrics;
using CadStream.Model;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Scoring;
using static TorchSharp.torch;

namespace CadStream.Evaluation.Reports;

public sealed record TintedPromptReport(SnapshotSummary Snapshot, int PerPrompt, double Coherence, double Guidance, int Steps, long Seed,
    TintedPromptScores Scores, double Seconds, string Machine);

/// <summary>
/// `cadstream eval --tinted-prompts` on a snapshot of the worked RGB example (docs/results/rgb/): the model is asked for every
/// "a {colour} {garment}" of the eight tints and ten garments, and <see cref="TintedPromptJudge"/> scores colour and garment apart.
/// Run on the CAD snapshot and on the baseline's, the two reports compare.
/// </summary>
public sealed class TintedPromptRun(FashionClassifier classifier, ITextEncoder encoder, Device device, Action<string>? progress = null)
{
    public TintedPromptReport Run(string snapshotPath, CadSnapshot snapshot, string? encoderIdentity, string outDir, int perPrompt, int steps,
        SamplerKind sampler, long seed, int batch)
    {
        var spec = snapshot.Spec;
        if (spec.Channels != 3) throw new ArgumentException($"{spec.Id} has {spec.Channels} channel(s): the tinted prompts need an RGB model (Channels 3)");
        Directory.CreateDirectory(outDir);
        var clock = Stopwatch.StartNew();
        using var model = snapshot.CreateDenoiser(device, encoderIdentity);
        var pipeline = new CadPipeline(model, device);
        var settings = new SamplerSettings(steps, sampler);
        double guidance = spec.DefaultGuidance;
        var prompts = (from c in Enumerable.Range(0, GarmentColours.All.Count) from g in Enumerable.Range(0, FashionMnist.NumClasses) select (c, g)).ToArray();
        var colours = new List<int>();
        var garments = new List<int>();
        var images = new List<byte[]>();
        int perBatch = Math.Max(1, batch / perPrompt);
        for (int start = 0; start < prompts.Length; start += perBatch)
        {
            var chunk = prompts.Skip(start).Take(perBatch).ToArray();
            var jobs = chunk.Select((p, j) =>
            {
                var states = encoder.TokenStatesOf([GarmentColours.Caption(p.c, p.g), NegativePrompts.For(spec, null, seed + start + j)]);
                return SampleRequest.ForPrompt(states[0], states[1], perPrompt, 1.0, guidance, Evaluator.Seed(seed, start + j, 0));
            }).ToArray();
            var tensors = pipeline.Sample(jobs, settings);
            for (int j = 0; j < chunk.Length; j++)
            {
                using (tensors[j]) images.Add(ImageTensors.ToBytes(tensors[j]));
                colours.AddRange(Enumerable.Repeat(chunk[j].c, perPrompt));
                garments.AddRange(Enumerable.Repeat(chunk[j].g, perPrompt));
            }
            progress?.Invoke($"tinted prompts: {Math.Min(start + perBatch, prompts.Length)}/{prompts.Length} prompts");
        }
        var scores = TintedPromptJudge.Score(images.SelectMany(b => b).ToArray(), spec.ImageSize, spec.ImageSize, colours, garments,
            greys => FashionClassifier.ArgMax(ClassifierTraining.Probabilities(classifier, greys)));
        var summary = new SnapshotSummary(snapshotPath, spec.Mode.Name(), snapshot.Steps, snapshot.SamplesSeen, model.ParameterCount(), guidance);
        var report = new TintedPromptReport(summary, perPrompt, 1.0, guidance, steps, seed, scores, clock.Elapsed.TotalSeconds, EvaluationRun.Machine());
        File.WriteAllText(Path.Combine(outDir, "tinted_prompts.json"), JsonSerializer.Serialize(report, EvaluationRun.Json));
        File.WriteAllText(Path.Combine(outDir, "tinted_prompts.md"), Markdown(report));
        return report;
    }

    static string F(double v) => double.IsNaN(v) ? "n/a" : v.ToString("F3", CultureInfo.InvariantCulture);

    public static string Markdown(TintedPromptReport r)
    {
        var s = new StringBuilder();
        s.AppendLine($"# Tinted prompts: {r.Snapshot.Mode}, {r.Snapshot.Steps} steps");
        s.AppendLine();
        s.AppendLine($"{r.Scores.Count} images: {r.PerPrompt} for each of the {GarmentColours.All.Count} x {FashionMnist.NumClasses} prompts \"a {{colour}} {{garment}}\", " +
                     $"guidance {r.Guidance}, coherence {r.Coherence}, {r.Steps} sampling steps, seed {r.Seed}; {r.Seconds:F0} s on {r.Machine}.");
        s.AppendLine("Colour is judged from pixels (hue of the coloured pixels, nearest of the eight tints), garment by the Fashion-MNIST classifier on the largest channel.");
        s.AppendLine();
        s.AppendLine("| colour right | garment right | both right | no colour |");
        s.AppendLine("|---|---|---|---|");
        s.AppendLine($"| {F(r.Scores.Colour)} | {F(r.Scores.Garment)} | {F(r.Scores.Both)} | {r.Scores.Uncoloured} |");
        s.AppendLine();
        s.AppendLine("| " + string.Join(" | ", GarmentColours.All.Select(c => c.Name)) + " |");
        s.AppendLine("|" + string.Concat(Enumerable.Repeat("---|", GarmentColours.All.Count)));
        s.AppendLine("| " + string.Join(" | ", r.Scores.ColourPerTint.Select(F)) + " |");
        s.AppendLine();
        s.AppendLine("| " + string.Join(" | ", GarmentColours.Garments) + " |");
        s.AppendLine("|" + string.Concat(Enumerable.Repeat("---|", FashionMnist.NumClasses)));
        s.AppendLine("| " + string.Join(" | ", r.Scores.GarmentPerClass.Select(F)) + " |");
        return s.ToString();
    }
}
