using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using CadStream.Catalog;
using CadStream.Model;
using CadStream.Model.Networks;
using CadStream.Model.Networks.Conditions;
using CadStream.Model.Training;
using CadStream.Records.Coherence;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace CadStream.Tests.Model;

/// <summary>
/// The text model's network, trainer and snapshot: class models stay as they were, a text model cross-attends
/// and learns in every mode, and its snapshot carries the text encoder and the bin table and refuses another
/// encoder.
/// </summary>
[Trait("Category", "Numeric")]
public class TextModelTests(ITestOutputHelper output)
{
    const string Encoder = "all-MiniLM-L6-v2 sha256:4a64cee3";

    static ModelSpec TextSpec(TrainingMode mode = TrainingMode.Cad) => TestModels.TinyText(mode) with { TextWidth = 8, Seed = 3 };

    /// <summary>n pairs with captions of 2..5 tokens (padded, masked) of width 8.</summary>
    static TrainBatch Batch(int n, int seed, float[]? coherence = null, TokenStates? every = null)
    {
        using var g = new Generator((ulong)seed, CPU);
        var images = rand([n, 1, 28, 28], generator: g).Times(2).Minus(1);
        var captions = Enumerable.Range(0, n).Select(i => every ?? new TokenStates(randn([(2 + i % 4) * 8], generator: g).data<float>().ToArray(), 2 + i % 4)).ToList();
        var (states, mask) = TokenTensors.Pad(captions, CPU);
        return new TrainBatch(images, new long[n], coherence ?? Enumerable.Range(0, n).Select(i => (i % 5) / 4f).ToArray(), states, mask);
    }

    static readonly TokenStates Empty = new([0.5f, -0.25f, 1, 0, 0, 0, 2, 1, -1, 0.5f, 0, 0, 0, 0, 3, 1], 2);

    [Fact]
    public void A_text_model_cross_attends_at_the_chosen_sides_and_in_the_middle()
    {
        _ = TestModels.Cpu;
        var fashion = TestModels.Fashion("class");
        var text = TestModels.FashionText("text");
        using var classModel = new CadDenoiser(fashion);
        using var textModel = new CadDenoiser(text);
        // 28 px, padded 32, patch 2: levels of side 16, 8, 4; the default cross-attends at 8 and 4 (2 down and 3 up
        // blocks each) and in the middle.
        Assert.Equal([16, 8, 4], text.LevelSides);
        Assert.Equal(11, textModel.modules().OfType<CrossAttention>().Count());
        Assert.Equal(text.TextLayers, textModel.modules().OfType<TransformerBlock>().Count());
        long textOnly = textModel.ParameterCount() - classModel.ParameterCount();
        output.WriteLine($"default class model {classModel.ParameterCount():N0} parameters, text model {textModel.ParameterCount():N0} " +
                         $"(text encoder and cross-attention {textOnly:N0}; context width {text.ContextDim}, {text.TextRegisters} registers)");
        Assert.True(textOnly > 0);

        var (states, mask) = TokenTensors.Pad([new TokenStates(new float[3 * 384], 3), new TokenStates(new float[7 * 384], 7)], CPU);
        using var g = new Generator(1, CPU);
        using var x = randn([2, 1, 28, 28], generator: g);
        using var eps = textModel.Predict(x, TensorMath.Full(2, 0.5f, ScalarType.Float32), new Conditioning(tensor(new[] { 1f, 0f }), Tokens: states, TokenMask: mask));
        Assert.Equal(new long[] { 2, 1, 28, 28 }, eps.shape);
        Assert.Throws<ArgumentException>(() => textModel.Predict(x, TensorMath.Full(2, 0.5f, ScalarType.Float32), new Conditioning(tensor(new[] { 1f, 0f }), tensor(new long[] { 1, 2 }))));
    }

    [Fact]
    public void Padding_does_not_change_what_a_caption_means_to_the_model()
    {
        _ = TestModels.Cpu;
        using var trainer = new CadTrainer(TextSpec(), TestModels.Cpu);
        for (int i = 0; i < 3; i++) Assert.True(trainer.Step(Batch(6, i)).Applied);
        using var g = new Generator(9, CPU);
        var caption = new TokenStates(randn([3 * 8], generator: g).data<float>().ToArray(), 3);
        var longer = new TokenStates(randn([6 * 8], generator: g).data<float>().ToArray(), 6);
        var x = randn([1, 1, 28, 28], generator: g);
        using var noGrad = no_grad();
        var (alone, aloneMask) = TokenTensors.Pad([caption], CPU);
        var (padded, paddedMask) = TokenTensors.Pad([caption, longer], CPU);
        trainer.Ema.eval();
        using var a = trainer.Ema.Predict(x, TensorMath.Full(1, 0.3f, ScalarType.Float32), new Conditioning(TensorMath.Full(1, 0.8f, ScalarType.Float32), Tokens: alone, TokenMask: aloneMask));
        using var b = trainer.Ema.Predict(cat([x, x]), TensorMath.Full(2, 0.3f, ScalarType.Float32), new Conditioning(TensorMath.Full(2, 0.8f, ScalarType.Float32), Tokens: padded, TokenMask: paddedMask));
        Assert.True(allclose(a, b[..1], rtol: 1e-4, atol: 1e-5), "the first caption's prediction changed when padded to a longer one");
    }

    [Theory]
    [InlineData(TrainingMode.Cad)]
    [InlineData(TrainingMode.Baseline)]
    [InlineData(TrainingMode.Filtered)]
    [InlineData(TrainingMode.Weighted)]
    [InlineData(TrainingMode.Cfg)]
    public void Every_mode_trains_a_text_model(TrainingMode mode)
    {
        using var trainer = new CadTrainer(TextSpec(mode), TestModels.Cpu, Empty);
        var before = TestModels.Flat(trainer.Model);
        var result = trainer.Step(Batch(8, 1, [1, 1, 0.75f, 0.5f, 0.25f, 0, 1, 0.6f]));
        Assert.True(result.Applied, result.SkipReason);
        Assert.Equal(mode == TrainingMode.Filtered ? 5 : 8, result.SamplesUsed);
        Assert.NotEqual(before, TestModels.Flat(trainer.Model));
    }

    [Fact]
    public void Register_and_coherence_tokens_start_from_a_normal_cut_at_two_standard_deviations()
    {
        // TorchSharp's trunc_normal_ gave every element 0.02 (mean and std swapped), so the registers started equal
        // and, receiving equal gradients, could never become different tokens.
        using var model = new CadDenoiser(TextSpec() with { TextRegisters = 16 });
        var tokens = model.named_parameters().Where(p => p.name.EndsWith("registers", StringComparison.Ordinal) || p.name.EndsWith("coherencePosition", StringComparison.Ordinal))
            .SelectMany(p => p.parameter.detach().data<float>().ToArray()).ToArray();
        Assert.True(tokens.Length >= 16 * 64, $"found {tokens.Length} token values");
        double mean = tokens.Average(), std = Math.Sqrt(tokens.Average(v => (v - mean) * (v - mean)));
        output.WriteLine($"{tokens.Length} values: mean {mean:E2}, std {std:F5}, range {tokens.Min():F4}..{tokens.Max():F4}");
        Assert.All(tokens, v => Assert.InRange(v, -0.04f, 0.04f));
        Assert.InRange(Math.Abs(mean), 0, 0.002);
        // A normal cut at +-2 sigma keeps 0.88 of sigma: 0.0176.
        Assert.InRange(std, 0.016, 0.019);
    }

    [Fact]
    public void Classic_guidance_drops_captions_to_the_empty_one()
    {
        // A cfg trainer that drops every caption learns exactly what one fed the empty caption for every pair does.
        var spec = TextSpec(TrainingMode.Cfg);
        using var dropping = new CadTrainer(spec with { CfgDropout = 1 }, TestModels.Cpu, Empty);
        using var fedEmpty = new CadTrainer(spec with { CfgDropout = 0 }, TestModels.Cpu, Empty);
        using var fedCaptions = new CadTrainer(spec with { CfgDropout = 0 }, TestModels.Cpu, Empty);
        // (Steps, not one: a new network's residual blocks start as identities, so the first step's update cannot
        // depend on the condition yet.)
        for (int step = 0; step < 3; step++)
        {
            var a = dropping.Step(Batch(6, 4 + step));
            var b = fedEmpty.Step(Batch(6, 4 + step, every: Empty));
            fedCaptions.Step(Batch(6, 4 + step));
            // Equal up to float rounding, which moves with the thread count and padding (not to a fixed number of places:
            // rounding two values to 6 places can part them however close they are).
            Assert.True(Math.Abs(a.Loss - b.Loss) <= 1e-5 * Math.Max(1, Math.Abs(a.Loss)), $"step {step}: loss {a.Loss:R} dropping every caption, {b.Loss:R} fed the empty one");
        }
        // Equal up to rounding (the dropped batch is padded to its longest caption, the other is not).
        static double MaxDiff(float[] a, float[] b) => a.Zip(b).Max(p => Math.Abs(p.First - p.Second));
        double same = MaxDiff(TestModels.Flat(dropping.Model), TestModels.Flat(fedEmpty.Model)), other = MaxDiff(TestModels.Flat(dropping.Model), TestModels.Flat(fedCaptions.Model));
        output.WriteLine($"largest weight difference: {same:E2} from the empty caption, {other:E2} from the real captions");
        Assert.True(same < 1e-5, $"dropping every caption differs from feeding the empty one by {same:E2}");
        Assert.True(other > 100 * Math.Max(same, 1e-8), $"real captions moved the weights only {other:E2} away");

        // A classic-guidance text trainer cannot start without the empty caption; CAD needs none.
        Assert.Contains("empty caption", Assert.Throws<ArgumentException>(() => new CadTrainer(spec, TestModels.Cpu)).Message);
        using var cad = new CadTrainer(TextSpec(), TestModels.Cpu);
    }

    [Fact]
    public void The_snapshot_carries_the_encoder_and_the_bin_table_and_refuses_another_encoder()
    {
        var bins = CoherenceBins.Estimate(Enumerable.Range(0, 1000).Select(i => Math.Sin(i) * 0.5 + 0.5).ToArray(), 8, version: 3);
        using var trainer = new CadTrainer(TextSpec(), TestModels.Cpu) { TextEncoder = Encoder, CoherenceBins = bins.ToJson() };
        trainer.Step(Batch(4, 2));
        var bytes = trainer.ToSnapshot(4, includeTrainingState: true).ToBytes();
        var back = CadSnapshot.FromBytes(bytes);
        Assert.Equal(Encoder, back.TextEncoder);
        var table = CoherenceBins.FromJson(back.CoherenceBins!);
        Assert.True(table.SameMeaning(bins));
        Assert.Equal(3, table.Version);
        Assert.Equal(bytes, back.ToBytes());

        // The same encoder loads it; another is refused, saying which it learnt from.
        using (var model = back.CreateDenoiser(TestModels.Cpu, Encoder))
            Assert.Equal(TestModels.Flat(trainer.Ema), TestModels.Flat(model));
        var refused = Assert.Throws<TextEncoderMismatchException>(() => back.CreateDenoiser(TestModels.Cpu, "all-MiniLM-L6-v2 sha256:0000"));
        Assert.Contains(Encoder, refused.Message);
        Assert.Throws<TextEncoderMismatchException>(() => back.RequireEncoder(null));

        // Resuming keeps both, so the next snapshot still says what c meant.
        using var resumed = CadTrainer.FromSnapshot(back, TestModels.Cpu);
        var next = resumed.ToSnapshot(5, false);
        Assert.Equal(Encoder, next.TextEncoder);
        Assert.Equal(back.CoherenceBins, next.CoherenceBins);

        // A text model's snapshot cannot be written without its encoder; a class model needs none.
        using var unnamed = new CadTrainer(TextSpec(), TestModels.Cpu);
        Assert.Contains("text encoder", Assert.Throws<InvalidOperationException>(() => unnamed.ToSnapshot(1, false).ToBytes()).Message);
        using var classes = new CadTrainer(TestModels.Tiny(), TestModels.Cpu);
        CadSnapshot.FromBytes(classes.ToSnapshot(1, false).ToBytes()).RequireEncoder(null);
    }

    [Fact]
    public void A_format_2_snapshot_still_loads()
    {
        // Format 2 (before text models) had no encoder or bin table in its header.
        using var trainer = new CadTrainer(TestModels.Tiny(), TestModels.Cpu);
        var current = trainer.ToSnapshot(2, includeTrainingState: false).ToBytes();
        int length = BinaryPrimitives.ReadInt32LittleEndian(current.AsSpan(8));
        var header = JsonNode.Parse(current.AsSpan(12, length))!.AsObject();
        Assert.Equal(3, (int)header["FormatVersion"]!);
        header["FormatVersion"] = 2;
        header.Remove("TextEncoder");
        header.Remove("CoherenceBins");
        var oldHeader = Encoding.UTF8.GetBytes(header.ToJsonString());
        var body = new List<byte>();
        body.AddRange(current.AsSpan(0, 8).ToArray());
        var len = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(len, oldHeader.Length);
        body.AddRange(len);
        body.AddRange(oldHeader);
        body.AddRange(current.AsSpan(12 + length, current.Length - 32 - 12 - length).ToArray());
        body.AddRange(SHA256.HashData(body.ToArray()));

        var old = CadSnapshot.FromBytes(body.ToArray());
        Assert.Null(old.TextEncoder);
        Assert.Null(old.CoherenceBins);
        Assert.Equal(trainer.Spec, old.Spec);
        using var model = old.CreateDenoiser(TestModels.Cpu, null);
        Assert.Equal(TestModels.Flat(trainer.Ema), TestModels.Flat(model));
    }

    [Fact]
    public void A_class_model_keeps_its_parameters_state_names_and_outputs() => TestModels.Pinned(() =>
    {
        // Recorded from the class model before text conditioning existed: same seed, same three steps, same input.
        // Its initial weights come from the spec's seed under TorchRandom's lock, so tests running alongside
        // cannot change them; the thread count is pinned, so neither can the machine's cores.
        _ = TestModels.Cpu;
        using var trainer = new CadTrainer(TestModels.Tiny() with { Seed = 5 }, TestModels.Cpu);
        using var g = new Generator(3, CPU);
        for (int s = 0; s < 3; s++)
        {
            var images = rand([8, 1, 28, 28], generator: g).Times(2).Minus(1);
            trainer.Step(new TrainBatch(images, Enumerable.Range(0, 8).Select(i => (long)(i % 10)).ToArray(), Enumerable.Range(0, 8).Select(i => (i % 5) / 4f).ToArray()));
        }
        var x = rand([4, 1, 28, 28], generator: g).Times(2).Minus(1);
        using var noGrad = no_grad();
        trainer.Model.eval();
        using var eps = trainer.Model.Predict(x, tensor(new float[] { 0.1f, 0.4f, 0.7f, 0.9f }),
            new Conditioning(tensor(new float[] { 1f, 0.5f, 0f, 0.25f }), tensor(new long[] { 0, 3, 7, 10 }))).to(ScalarType.Float64);
        var names = string.Join(",", trainer.Model.state_dict().Keys);
        Assert.Equal(192_644, trainer.Model.ParameterCount());
        Assert.Equal("14d94445762fdcba3fce5dd05e660e3c7501aaaeb79eb05c33f407f4e66b95d0", Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(names))));
        Assert.Equal(-0.052970548030202735, eps.sum().item<double>(), 6);
        Assert.Equal(0.37843916860049376, eps.abs().sum().item<double>(), 6);
        Assert.DoesNotContain(trainer.Model.modules(), m => m is CrossAttention or TextCoherenceEncoder);
    });
}
