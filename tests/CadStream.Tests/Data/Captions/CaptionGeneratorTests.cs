using Xunit.Abstractions;
using CadStream.Data;
using CadStream.Data.Captions;

namespace CadStream.Tests.Data.Captions;

public sealed class CaptionGeneratorTests(ITestOutputHelper output)
{
    static readonly Lazy<FashionMnist> Test = new(() => FashionMnist.Load(train: false));

    static ReadOnlySpan<byte> Image(int i) => Test.Value.Pixels.AsSpan(i * FashionMnist.ImageBytes, FashionMnist.ImageBytes);

    static List<GeneratedCaption> Captions(CaptionGenerator generator, int count, int offset = 0) =>
        Enumerable.Range(offset, count).Select(i => generator.Generate(Image(i), Test.Value.Labels[i], i)).ToList();

    /// <summary>A 28x28 image holding one filled rectangle of the given grey level.</summary>
    static byte[] Rectangle(int width, int height, byte level)
    {
        var pixels = new byte[28 * 28];
        int r0 = (28 - height) / 2, c0 = (28 - width) / 2;
        for (int r = r0; r < r0 + height; r++)
            for (int c = c0; c < c0 + width; c++) pixels[r * 28 + c] = level;
        return pixels;
    }

    [Fact]
    public void Captions_AreDeterministicForASeed_AndIndependentOfOrder()
    {
        var noise = new CaptionNoise(0.2, 0.1);
        var a = Captions(new CaptionGenerator(noise, seed: 11), 300).Select(c => c.Text).ToList();
        var b = Captions(new CaptionGenerator(noise, seed: 11), 300).Select(c => c.Text).ToList();
        var other = Captions(new CaptionGenerator(noise, seed: 12), 300).Select(c => c.Text).ToList();
        Assert.Equal(a, b);
        Assert.True(a.Zip(other).Count(p => p.First != p.Second) > 270, "another seed gives mostly the same captions");
        // Sample 157 on its own equals sample 157 of the sequence.
        Assert.Equal(a[157], new CaptionGenerator(noise, seed: 11).Generate(Image(157), Test.Value.Labels[157], 157).Text);
        // Varied wording: nearly every caption differs, and every class name and template shows up.
        Assert.True(a.Distinct().Count() > 280, $"only {a.Distinct().Count()} distinct captions of 300");
        foreach (var t in a.Take(12)) output.WriteLine(t);
    }

    [Fact]
    public void NoiseShares_AreMet_AndEachCaptionNamesWhatItsTruthSays()
    {
        var captions = Captions(new CaptionGenerator(new CaptionNoise(WrongClass: 0.25, NoClass: 0.15), seed: 3), 1000);
        double wrong = captions.Count(c => c.Truth == CaptionTruth.WrongClass) / 1000.0;
        double none = captions.Count(c => c.Truth == CaptionTruth.NoClass) / 1000.0;
        output.WriteLine($"wrong class {wrong:F3}, no class {none:F3}");
        // Binomial standard deviations are 0.014 and 0.011; four of them.
        Assert.InRange(wrong, 0.25 - 0.055, 0.25 + 0.055);
        Assert.InRange(none, 0.15 - 0.045, 0.15 + 0.045);
        foreach (var c in captions)
        {
            var named = CaptionVocabulary.ClassesNamedIn(c.Text);
            switch (c.Truth)
            {
                case CaptionTruth.Correct:
                    Assert.Equal(c.TrueLabel, c.NamedLabel);
                    Assert.Equal([c.TrueLabel], named);
                    break;
                case CaptionTruth.WrongClass:
                    Assert.NotEqual(c.TrueLabel, c.NamedLabel);
                    Assert.Equal([c.NamedLabel!.Value], named);
                    break;
                default:
                    Assert.Null(c.NamedLabel);
                    Assert.Empty(named);
                    Assert.Empty(c.Attributes);
                    break;
            }
        }
        // Wrong classes are spread over the other classes, not stuck on one.
        Assert.True(captions.Where(c => c.Truth == CaptionTruth.WrongClass).Select(c => c.NamedLabel).Distinct().Count() >= 8);
        Assert.All(Captions(new CaptionGenerator(CaptionNoise.None, seed: 3), 200), c => Assert.Equal(CaptionTruth.Correct, c.Truth));
        Assert.Throws<ArgumentException>(() => new CaptionGenerator(new CaptionNoise(0.7, 0.4), 0));
        Assert.Throws<ArgumentException>(() => new CaptionGenerator(new CaptionNoise(-0.1, 0), 0));
    }

    [Fact]
    public void HeldOutWordings_NeverAppearInTrainingCaptions_AndMakeThePrompts()
    {
        var heldNames = CaptionVocabulary.HeldOutNames.SelectMany(n => n).Select(n => CaptionVocabulary.Words(n.Text)).ToList();
        // A held-out template's fixed words, e.g. "spotted in the wild".
        var heldFragments = CaptionVocabulary.HeldOutTemplates
            .SelectMany(t => t.Split(["{a}", "{d}"], StringSplitOptions.RemoveEmptyEntries))
            .Select(CaptionVocabulary.Words).Where(w => w.Length > 0).ToList();
        var captions = Captions(new CaptionGenerator(new CaptionNoise(0.2, 0.1), seed: 5), 3000);
        foreach (var c in captions)
        {
            var words = CaptionVocabulary.Words(c.Text);
            foreach (var phrase in heldNames.Concat(heldFragments))
                Assert.False(Contains(words, phrase), $"training caption '{c.Text}' holds held-out wording '{string.Join(' ', phrase)}'");
        }
        // Every training name and template is used (the check above covered them all).
        var all = string.Join("\n", captions.Select(c => c.Text.ToLowerInvariant()));
        foreach (var name in CaptionVocabulary.TrainingNames.SelectMany(n => n))
            Assert.Contains(name.Text, all);

        for (int label = 0; label < 10; label++)
        {
            var prompts = CaptionGenerator.HeldOutPrompts(label);
            Assert.Equal(CaptionVocabulary.HeldOutTemplates.Count * CaptionVocabulary.HeldOutNames[label].Count, prompts.Count);
            Assert.All(prompts, p => Assert.Equal([label], CaptionVocabulary.ClassesNamedIn(p)));
            Assert.All(prompts, p => Assert.Contains(heldNames, n => Contains(CaptionVocabulary.Words(p), n)));
            output.WriteLine(string.Join(" | ", prompts.Take(3)));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => CaptionGenerator.HeldOutPrompts(10));
    }

    static bool Contains(string[] words, string[] phrase)
    {
        for (int i = 0; i + phrase.Length <= words.Length; i++)
            if (words.AsSpan(i, phrase.Length).SequenceEqual(phrase)) return true;
        return false;
    }

    [Fact]
    public void Measures_FollowTheirClosedForms()
    {
        // A 10 wide, 20 tall rectangle of grey 200: coverage 200/784, fill 1, aspect 1/2, brightness 200/255.
        var m = ImageMeasures.Measure(Rectangle(10, 20, 200), 28, 28);
        Assert.Equal(200 / 784.0, m.Coverage, 1e-12);
        Assert.Equal(1, m.Fill, 1e-12);
        Assert.Equal(0.5, m.Aspect, 1e-12);
        Assert.Equal(200 / 255.0, m.Brightness, 1e-12);
        Assert.Equal([ImageAttribute.Small, ImageAttribute.Solid, ImageAttribute.Tall, ImageAttribute.Light], m.Attributes());
        // Background below the foreground level does not count.
        var faint = Rectangle(10, 20, 200);
        faint[0] = ImageMeasures.ForegroundLevel - 1;
        Assert.Equal(m, ImageMeasures.Measure(faint, 28, 28));
        Assert.Throws<ArgumentException>(() => ImageMeasures.Measure(new byte[10], 28, 28));
    }

    [Fact]
    public void BrightnessWords_FollowThePixels()
    {
        var generator = new CaptionGenerator(CaptionNoise.None, seed: 9);
        // 22 x 22 squares: solid, neither small nor large, neither tall nor wide; only the grey level differs.
        var dark = Rectangle(22, 22, 70);    // brightness 0.27
        var light = Rectangle(22, 22, 240);  // brightness 0.94
        var middle = Rectangle(22, 22, 160); // brightness 0.63: no brightness word
        var darkWords = CaptionVocabulary.AttributeWords[ImageAttribute.Dark];
        var lightWords = CaptionVocabulary.AttributeWords[ImageAttribute.Light];
        int saidDark = 0, saidLight = 0;
        for (int i = 0; i < 300; i++)
        {
            var d = generator.Generate(dark, i % 10, i);
            var l = generator.Generate(light, i % 10, i);
            var m = generator.Generate(middle, i % 10, i);
            Assert.DoesNotContain(d.Attributes, a => a.Attribute == ImageAttribute.Light);
            Assert.DoesNotContain(l.Attributes, a => a.Attribute == ImageAttribute.Dark);
            Assert.DoesNotContain(m.Attributes, a => a.Attribute is ImageAttribute.Dark or ImageAttribute.Light);
            Assert.DoesNotContain(CaptionVocabulary.Words(d.Text), w => lightWords.Contains(w));
            Assert.DoesNotContain(CaptionVocabulary.Words(l.Text), w => darkWords.Contains(w));
            // What the record says was said is in the text.
            foreach (var a in d.Attributes.Concat(l.Attributes)) Assert.Contains(a.Word, d.Attributes.Contains(a) ? d.Text : l.Text, StringComparison.OrdinalIgnoreCase);
            if (d.Attributes.Any(a => a.Attribute == ImageAttribute.Dark)) saidDark++;
            if (l.Attributes.Any(a => a.Attribute == ImageAttribute.Light)) saidLight++;
        }
        // Two attributes measured, each said half the time: 150 of 300 expected (standard deviation 8.7).
        Assert.InRange(saidDark, 110, 190);
        Assert.InRange(saidLight, 110, 190);

        // On real images: captions that call an item dark are about darker items than those that call it light.
        var real = Captions(generator, 2000);
        double Mean(ImageAttribute a) => real.Select((c, i) => (c, i)).Where(x => x.c.Attributes.Any(t => t.Attribute == a))
            .Average(x => ImageMeasures.Measure(Image(x.i), 28, 28).Brightness);
        output.WriteLine($"mean brightness: said dark {Mean(ImageAttribute.Dark):F2}, said light {Mean(ImageAttribute.Light):F2}");
        Assert.True(Mean(ImageAttribute.Dark) + 0.3 < Mean(ImageAttribute.Light));
    }
}
