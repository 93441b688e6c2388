using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using CadStream.Data;
using CadStream.Model;
using CadStream.Model.Training;
using CadStream.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace CadStream.Scoring;

/// <summary>
/// Small CNN for 28x28 grey images in [-1, 1]. Its logits feed the temperature label-noise
/// protocol and the accuracy metric; its 128-d penultimate features stand in for Inception
/// features in FID / precision / recall (no Inception weights here, see docs/method.md).
/// </summary>
public sealed class FashionClassifier : nn.Module<Tensor, Tensor>
{
    public const int NumClasses = 10;
    public const int FeatureDim = 128;

    // "CADSCLF" + format version 1; then sha256(payload), payload length (int64 LE), payload.
    static readonly byte[] Magic = "CADSCLF1"u8.ToArray();
    const int HeaderLength = 8 + 32 + 8;

    // Field names become the state-dict keys: renaming one breaks saved files.
    readonly Conv2d conv1;
    readonly BatchNorm2d bn1;
    readonly Conv2d conv2;
    readonly Linear fc1;
    readonly SeededDropout drop;
    readonly Linear head;
    readonly DropoutNoise dropoutNoise;

    /// <summary>
    /// A new classifier whose initial weights are drawn from torch's global generator seeded with
    /// <paramref name="seed"/> under <see cref="TorchRandom"/>'s lock; dropout draws from its own generator
    /// (same seed), so training is reproducible next to other threads.
    /// </summary>
    public FashionClassifier(long seed = 0) : base(nameof(FashionClassifier))
    {
        // The runtime must pick (and maybe load CUDA) libtorch before any module is built.
        _ = TorchRuntime.Device;
        using var seeded = TorchRandom.Seeded(seed);
        dropoutNoise = new DropoutNoise(seed);
        conv1 = nn.Conv2d(1, 32, 3, padding: 1);
        bn1 = nn.BatchNorm2d(32);
        conv2 = nn.Conv2d(32, 64, 3, padding: 1);
        fc1 = nn.Linear(64 * 7 * 7, FeatureDim);
        drop = new SeededDropout(0.3) { Noise = dropoutNoise };
        head = nn.Linear(FeatureDim, NumClasses);
        RegisterComponents();
    }

    /// <summary>Penultimate features (B, 128) for images (B, 1, 28, 28).</summary>
    public Tensor Features(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = F.max_pool2d(F.relu(Normalize(conv1.call(x))), 2);
        h = F.max_pool2d(F.relu(conv2.call(h)), 2);
        h = F.relu(fc1.call(h.flatten(1)));
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// bn1 as BatchNorm2d's forward computes it, but its batch counter moves on a held Scalar: TorchSharp's forward
    /// adds an implicit 1 that nothing holds (see TensorMath).
    /// </summary>
    Tensor Normalize(Tensor x)
    {
        if (training) bn1.num_batches_tracked?.PlusInPlace(1);
        return F.batch_norm(x, bn1.running_mean, bn1.running_var, bn1.weight, bn1.bias, training, bn1.momentum!.Value, bn1.eps);
    }

    /// <summary>Class logits (B, 10).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return head.call(drop.call(Features(x))).MoveToOuterDisposeScope();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) dropoutNoise.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>Writes the weights (and BatchNorm statistics) with a magic header and a sha256 of the payload.</summary>
    public void Save(string path)
    {
        byte[] payload;
        using (var ms = new MemoryStream())
        {
            save(ms); // closes ms; ToArray still works on a closed MemoryStream
            payload = ms.ToArray();
        }
        var header = new byte[HeaderLength];
        Magic.CopyTo(header, 0);
        SHA256.HashData(payload).CopyTo(header, 8);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(40), payload.Length);
        // Write beside the target and rename, so a crash never leaves a half-written classifier.
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        using (var f = File.Create(tmp))
        {
            f.Write(header);
            f.Write(payload);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads a file written by <see cref="Save"/>; the model comes back in eval mode on <paramref name="device"/> (default the runtime's).</summary>
    public static FashionClassifier Load(string path, Device? device = null)
    {
        var file = File.ReadAllBytes(path);
        if (file.Length < HeaderLength || !file.AsSpan(0, 8).SequenceEqual(Magic))
            throw new InvalidDataException($"{path} is not a CadStream classifier file (bad magic)");
        long length = BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(40));
        if (length != file.Length - HeaderLength)
            throw new InvalidDataException($"{path}: classifier file is truncated or padded (header says {length} payload bytes, found {file.Length - HeaderLength})");
        var payload = file.AsSpan(HeaderLength);
        if (!SHA256.HashData(payload).AsSpan().SequenceEqual(file.AsSpan(8, 32)))
            throw new InvalidDataException($"{path}: classifier file is corrupted (sha256 mismatch)");

        var model = new FashionClassifier();
        try
        {
            model.load(new MemoryStream(file, HeaderLength, (int)length, writable: false));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            model.Dispose();
            throw new InvalidDataException($"{path}: classifier weights do not fit this network ({e.Message.Split('\n')[0]})", e);
        }
        model.eval();
        model.to(device ?? TorchRuntime.Device);
        return model;
    }

    /// <summary>Row-wise softmax of N x <paramref name="numClasses"/> logits.</summary>
    public static float[] Softmax(ReadOnlySpan<float> logits, int numClasses = NumClasses)
    {
        if (numClasses < 1 || logits.Length % numClasses != 0)
            throw new ArgumentException($"{logits.Length} logits do not split into rows of {numClasses}");
        var probs = new float[logits.Length];
        for (int r = 0; r < logits.Length; r += numClasses)
        {
            var row = logits.Slice(r, numClasses);
            float max = float.NegativeInfinity;
            foreach (var v in row) max = Math.Max(max, v);
            double sum = 0;
            for (int c = 0; c < numClasses; c++) sum += Math.Exp(row[c] - max);
            for (int c = 0; c < numClasses; c++) probs[r + c] = (float)(Math.Exp(row[c] - max) / sum);
        }
        return probs;
    }

    /// <summary>Row-wise argmax of N x <paramref name="numClasses"/> logits or probabilities.</summary>
    public static int[] ArgMax(ReadOnlySpan<float> scores, int numClasses = NumClasses)
    {
        if (numClasses < 1 || scores.Length % numClasses != 0)
            throw new ArgumentException($"{scores.Length} scores do not split into rows of {numClasses}");
        var result = new int[scores.Length / numClasses];
        for (int i = 0; i < result.Length; i++)
        {
            var row = scores.Slice(i * numClasses, numClasses);
            int best = 0;
            for (int c = 1; c < numClasses; c++) if (row[c] > row[best]) best = c;
            result[i] = best;
        }
        return result;
    }

    /// <summary>H(p) / log n for one probability vector: 0 for one-hot, 1 for uniform.</summary>
    public static double NormalizedEntropy(ReadOnlySpan<float> probs)
    {
        if (probs.Length < 2) return 0;
        double h = 0;
        foreach (var p in probs) if (p > 0) h -= p * Math.Log(p);
        return Math.Clamp(h / Math.Log(probs.Length), 0, 1);
    }
}

/// <summary>The trained classifier, its accuracy on the test split and how long training took.</summary>
public sealed record ClassifierResult(FashionClassifier Model, double TestAccuracy, TimeSpan TrainTime, double LastEpochLoss);

/// <summary>Trains <see cref="FashionClassifier"/> on clean labels and runs it in batches.</summary>
public static class ClassifierTraining
{
    /// <param name="progress">Lines for people, every 100 steps and per epoch.</param>
    /// <param name="fraction">The share of the training steps done (0..1), every 10 steps.</param>
    public static ClassifierResult Train(FashionMnist train, FashionMnist test, int epochs = 2, int batch = 128, double lr = 1e-3, int seed = 0,
        Action<string>? progress = null, Action<double>? fraction = null)
    {
        if (epochs < 1) throw new ArgumentOutOfRangeException(nameof(epochs), $"epochs must be >= 1, got {epochs}");
        if (batch < 2) throw new ArgumentOutOfRangeException(nameof(batch), $"batch must be >= 2 (BatchNorm), got {batch}");
        if (train.Count == 0) throw new ArgumentException("the training set is empty");
        var device = TorchRuntime.Device;
        // The seed gives the initial weights and the dropout masks; the data order comes from System.Random(seed).
        var model = new FashionClassifier(seed);
        model.to(device);
        // Adam without weight decay is AdamW without it; FlatAdamW holds its Scalars, TorchSharp's Adam.step does not.
        using var optimizer = new FlatAdamW(model.parameters().ToArray(), lr, weightDecay: 0);
        var rng = new Random(seed);
        var order = Enumerable.Range(0, train.Count).ToArray();
        var labels = new long[batch];
        var sw = Stopwatch.StartNew();
        double epochLoss = 0;
        int stepsPerEpoch = (train.Count + batch - 1) / batch;
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            rng.Shuffle(order);
            model.train();
            double lossSum = 0;
            for (int step = 0; step < stepsPerEpoch; step++)
            {
                // Per-step scope: every temporary tensor is freed here, not by the GC.
                using var scope = torch.NewDisposeScope();
                int start = step * batch, b = Math.Min(batch, train.Count - start);
                var idx = order.AsSpan(start, b);
                // A last batch of one would break BatchNorm's batch statistics; skip it.
                if (b < 2) continue;
                var x = train.ToTensor(idx, device);
                for (int i = 0; i < b; i++) labels[i] = train.Labels[idx[i]];
                var y = torch.tensor(labels.AsSpan(0, b).ToArray(), device: device);
                optimizer.ZeroGrad();
                var loss = F.cross_entropy(model.call(x), y);
                loss.backward();
                optimizer.Step(lr);
                lossSum += loss.item<float>();
                if (fraction is not null && (step + 1) % 10 == 0) fraction((epoch * stepsPerEpoch + step + 1) / (double)(epochs * stepsPerEpoch));
                if (progress is not null && (step + 1) % 100 == 0)
                    progress($"epoch {epoch + 1}/{epochs} step {step + 1}/{stepsPerEpoch}: loss {lossSum / (step + 1):F4} ({sw.Elapsed.TotalSeconds:F1} s)");
            }
            epochLoss = lossSum / stepsPerEpoch;
            progress?.Invoke($"epoch {epoch + 1}/{epochs} done: mean loss {epochLoss:F4} ({sw.Elapsed.TotalSeconds:F1} s)");
        }
        var trainTime = sw.Elapsed;
        model.eval();
        double accuracy = Accuracy(model, test);
        progress?.Invoke($"test accuracy {accuracy:F4} after {trainTime.TotalSeconds:F1} s of training");
        return new ClassifierResult(model, accuracy, trainTime, epochLoss);
    }

    /// <summary>Fraction of <paramref name="data"/> whose argmax logit equals the label.</summary>
    public static double Accuracy(FashionClassifier model, FashionMnist data, int batch = 500)
    {
        if (data.Count == 0) return 0;
        var predicted = FashionClassifier.ArgMax(PredictLogits(model, data, batch));
        int correct = 0;
        for (int i = 0; i < predicted.Length; i++) if (predicted[i] == data.Labels[i]) correct++;
        return (double)correct / data.Count;
    }

    /// <summary>Share of <paramref name="images"/> (N, 1, 28, 28) in [-1, 1] whose argmax logit is the class <paramref name="labels"/> asked for.</summary>
    public static double Accuracy(FashionClassifier model, Tensor images, IReadOnlyList<int> labels)
    {
        var predicted = FashionClassifier.ArgMax(PredictLogits(model, images));
        if (predicted.Length != labels.Count) throw new ArgumentException($"{predicted.Length} images for {labels.Count} labels");
        return Enumerable.Range(0, predicted.Length).Count(i => predicted[i] == labels[i]) / (double)predicted.Length;
    }

    /// <summary>Logits for every image, N x 10 row-major (eval mode, no grad).</summary>
    public static float[] PredictLogits(FashionClassifier model, FashionMnist data, int batch = 500) =>
        Run(model, data.Count, FashionClassifier.NumClasses, batch, (start, b, device) => data.ToTensor(Range(start, b), device), model.call);

    /// <summary>Logits for images (N, 1, 28, 28) in [-1, 1] on any device, N x 10 row-major.</summary>
    public static float[] PredictLogits(FashionClassifier model, Tensor images, int batch = 500) =>
        Run(model, CheckImages(images), FashionClassifier.NumClasses, batch, (start, b, device) => images.narrow(0, start, b).to(device), model.call);

    /// <summary>
    /// p(class | image) of 28x28 grey images (8-bit, as pairs carry them), N x 10 row-major: the one way images
    /// become class probabilities, for the scorers' coherence and the caption agreement alike.
    /// </summary>
    public static float[] Probabilities(FashionClassifier model, IReadOnlyList<byte[]> images)
    {
        using var scope = torch.NewDisposeScope();
        int size = FashionMnist.ImageBytes;
        var bytes = new byte[images.Count * size];
        for (int j = 0; j < images.Count; j++) Buffer.BlockCopy(images[j], 0, bytes, j * size, size);
        var logits = PredictLogits(model, ImageTensors.FromBytes(bytes, images.Count, 1, FashionMnist.Side, FashionMnist.Side));
        return FashionClassifier.Softmax(logits);
    }

    /// <summary>Penultimate features for every image, N x 128 row-major.</summary>
    public static float[] ExtractFeatures(FashionClassifier model, FashionMnist data, int batch = 500) =>
        Run(model, data.Count, FashionClassifier.FeatureDim, batch, (start, b, device) => data.ToTensor(Range(start, b), device), model.Features);

    /// <summary>Penultimate features for images (N, 1, 28, 28) in [-1, 1], N x 128 row-major.</summary>
    public static float[] ExtractFeatures(FashionClassifier model, Tensor images, int batch = 500) =>
        Run(model, CheckImages(images), FashionClassifier.FeatureDim, batch, (start, b, device) => images.narrow(0, start, b).to(device), model.Features);

    static int[] Range(int start, int count) => Enumerable.Range(start, count).ToArray();

    static int CheckImages(Tensor images)
    {
        if (images.dim() != 4 || images.shape[1] != 1 || images.shape[2] != FashionMnist.Side || images.shape[3] != FashionMnist.Side)
            throw new ArgumentException($"expected images of shape (N, 1, {FashionMnist.Side}, {FashionMnist.Side}), got ({string.Join(", ", images.shape)})");
        return (int)images.shape[0];
    }

    static float[] Run(FashionClassifier model, int n, int width, int batch, Func<int, int, Device, Tensor> input, Func<Tensor, Tensor> f)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), $"batch must be >= 1, got {batch}");
        var device = model.parameters().First().device;
        var result = new float[(long)n * width];
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = torch.no_grad();
            for (int start = 0; start < n; start += batch)
            {
                using var scope = torch.NewDisposeScope();
                int b = Math.Min(batch, n - start);
                var output = f(input(start, b, device).to(ScalarType.Float32)).cpu();
                output.data<float>().ToArray().CopyTo(result, (long)start * width);
            }
        }
        finally
        {
            if (wasTraining) model.train();
        }
        return result;
    }
}

/// <summary>Fashion-MNIST images as the classifier's input.</summary>
public static class FashionMnistTensors
{
    /// <summary>Images at <paramref name="indices"/> as float32 (B,1,28,28) scaled to [-1, 1], on <paramref name="device"/> (default <see cref="TorchRuntime.Device"/>).</summary>
    public static torch.Tensor ToTensor(this FashionMnist data, ReadOnlySpan<int> indices, torch.Device? device = null)
    {
        // Touch the runtime first: it must load a CUDA libtorch before TorchSharp loads its own.
        var runtimeDevice = TorchRuntime.Device;
        device ??= runtimeDevice;
        const int n = FashionMnist.ImageBytes;
        var buffer = new float[indices.Length * n];
        for (int b = 0; b < indices.Length; b++)
        {
            int idx = indices[b];
            if ((uint)idx >= (uint)data.Count) throw new ArgumentOutOfRangeException(nameof(indices), $"index {idx} outside 0..{data.Count - 1}");
            var src = data.Pixels.AsSpan(idx * n, n);
            var dst = buffer.AsSpan(b * n, n);
            for (int k = 0; k < n; k++) dst[k] = src[k] / 127.5f - 1f;
        }
        var t = torch.tensor(buffer, [indices.Length, 1, FashionMnist.Side, FashionMnist.Side]);
        if (device.type == DeviceType.CPU) return t;
        using (t) return t.to(device);
    }
}
