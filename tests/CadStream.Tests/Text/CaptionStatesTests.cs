using CadStream.Catalog.Text;
using CadStream.Data;
using CadStream.Data.Captions;
using CadStream.Text;

namespace CadStream.Tests.Text;

/// <summary>
/// A caption's token states are a function of the caption: the same bits alone or in any batch, and the same
/// numbers to a model whether they came through the offline token bank (`cadstream train --condition text`),
/// a node's trainer (encoded off the training thread, through the node's cached encoder) or a prompt.
/// </summary>
[Collection(MiniLmFixture.Name)]
public sealed class CaptionStatesTests(MiniLmFixture fixture)
{
    static string[] Captions(int n)
    {
        var data = FashionMnist.Load(train: false);
        var generator = new CaptionGenerator(new CaptionNoise(0.2, 0.1), seed: 8);
        return Enumerable.Range(0, n).Select(i => generator.Generate(data.Pixels.AsSpan(i * FashionMnist.ImageBytes, FashionMnist.ImageBytes), data.Labels[i], i).Text)
            .Append(string.Join(' ', Enumerable.Repeat("a long caption that pads every other one", 6))).Append("").ToArray();
    }

    static int[] Bits(ReadOnlySpan<float> values) => values.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();

    [Fact]
    public void A_captions_states_are_the_same_bits_alone_and_in_any_batch()
    {
        var encoder = fixture.Encoder;
        var captions = Captions(40);
        var alone = captions.Select(c => encoder.Encode([c]).Row(0)).ToArray();
        Assert.True(alone.Select(a => a.Tokens).Distinct().Count() > 5, "the captions should differ in length, so batches pad");
        var order = Enumerable.Range(0, captions.Length).ToArray();
        new Random(1).Shuffle(order);
        foreach (var size in new[] { 3, 16, captions.Length })
            for (int start = 0; start < order.Length; start += size)
            {
                var chunk = order[start..Math.Min(order.Length, start + size)];
                var batch = encoder.Encode(chunk.Select(i => captions[i]).ToArray());
                for (int k = 0; k < chunk.Length; k++)
                {
                    var row = batch.Row(k);
                    Assert.Equal(alone[chunk[k]].Tokens, row.Tokens);
                    Assert.Equal(Bits(alone[chunk[k]].States), Bits(row.States));
                    Assert.Equal(Bits(alone[chunk[k]].Pooled), Bits(row.Pooled));
                }
            }
    }

    [Fact]
    public void A_nodes_trainer_a_prompt_and_the_offline_bank_give_a_caption_the_same_numbers()
    {
        var captions = Captions(40);
        var bank = TokenBank.Build(fixture.Encoder, captions, batch: 7);
        // A node's trainer: its batches mix captions, repeats come from the node's cache.
        var cached = new CachedTextEncoder(fixture.Encoder);
        var order = Enumerable.Range(0, captions.Length).Reverse().ToArray();
        for (int start = 0; start < order.Length; start += 16)
        {
            var chunk = order[start..Math.Min(order.Length, start + 16)];
            var node = cached.TokenStatesOf(chunk.Select(i => captions[i]).Append(captions[chunk[0]]).ToArray());
            for (int k = 0; k < chunk.Length; k++)
            {
                Assert.Equal(bank.TokensOf(chunk[k]), node[k].Tokens);
                Assert.Equal(Bits(bank.StatesOf(chunk[k])), Bits(node[k].States));
            }
        }
        for (int i = 0; i < captions.Length; i += 9)
            Assert.Equal(Bits(bank.StatesOf(i)), Bits(fixture.Encoder.TokenStatesOf(captions[i]).States));
    }
}
