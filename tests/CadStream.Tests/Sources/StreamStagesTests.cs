using CadStream.Sources;

namespace CadStream.Tests.Sources;

/// <summary>The stages between reading and sending: the shuffle buffer and the resume mark.</summary>
public sealed class StreamStagesTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("cad-stages-").FullName;
    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void The_shuffle_buffer_sends_every_item_once_mixed_and_the_same_order_for_the_same_seed()
    {
        var items = Enumerable.Range(0, 500).ToArray();
        var a = ShuffleBuffer.Shuffle(items, 64, seed: 1).ToArray();
        Assert.Equal(items, a.Order());
        Assert.NotEqual(items, a);
        Assert.Equal(a, ShuffleBuffer.Shuffle(items, 64, seed: 1));
        Assert.NotEqual(a, ShuffleBuffer.Shuffle(items, 64, seed: 2));
        Assert.Equal(items, ShuffleBuffer.Shuffle(items, 0, seed: 1));
    }

    [Fact]
    public void The_resume_mark_moves_over_the_acknowledged_prefix_only_and_survives_in_its_file()
    {
        var file = Path.Combine(dir, "r.txt");
        Assert.Equal(0, ResumePoint.Load(file));
        var point = new ResumePoint(file, start: 10);
        foreach (var id in new[] { "a", "b", "c", "d" }) point.Sending(id); // numbers 10..13
        point.Delivered("b", true);
        Assert.Equal(10, point.Mark); // a is not acknowledged yet
        point.Delivered("a", true);
        Assert.Equal(12, point.Mark);
        point.Delivered("c", false); // failed: the mark waits before it, so a re-run sends it again
        point.Delivered("d", true);
        Assert.Equal(12, point.Mark);
        point.Save();
        Assert.Equal(12, ResumePoint.Load(file));

        File.WriteAllText(file, "something else");
        Assert.Contains("not a resume file", Assert.Throws<InvalidDataException>(() => ResumePoint.Load(file)).Message);
    }
}
