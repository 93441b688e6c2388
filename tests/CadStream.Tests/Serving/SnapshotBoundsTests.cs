using CadStream.Serving;
using CadStream.Model;
using CadStream.Snapshots;
using CadStream.Tests.Model;

namespace CadStream.Tests.Serving;

/// <summary>What a snapshot declares about itself is bounded before a network is built from it.</summary>
public sealed class SnapshotBoundsTests
{
    static SnapshotInfo Info(byte[] bytes, long version) =>
        new(version, CadSnapshot.Sha256Hex(bytes), bytes.Length, version, version * 8, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    [Fact]
    public async Task A_snapshot_declaring_width_one_million_is_refused_without_a_large_allocation()
    {
        var good = CadSnapshot.FromBytes(TinySnapshots.V1);
        var wide = (good with { Spec = good.Spec with { Width = 1_000_000, NormGroups = 8 } }).ToBytes();
        await using var host = new ModelHost(TestModels.Fashion(TinySnapshots.ModelId), new ServingOptions(), TestModels.Cpu);
        host.Install(Info(TinySnapshots.V1, 1), TinySnapshots.V1);

        long managed = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<SnapshotFormatException>(() => { host.Install(Info(wide, 2), wide); });
        managed = GC.GetAllocatedBytesForCurrentThread() - managed;
        Assert.Contains("Width must be in 1..1024 (got 1000000)", e.Message);
        // The blob is read once or twice (its EMA weights copied out); a network of that width would need terabytes.
        Assert.True(managed < 8L * TinySnapshots.V1.Length + (16 << 20), $"{managed:N0} bytes allocated to refuse it");
        Assert.Equal(1, host.Current?.Version);
    }

    [Fact]
    public async Task A_malformed_bin_table_refuses_the_snapshot_not_the_models_listing()
    {
        var good = CadSnapshot.FromBytes(TinySnapshots.V1);
        var bad = (good with { CoherenceBins = "{\"edges\": [0, 0.5," }).ToBytes();
        await using var host = new ModelHost(TestModels.Fashion(TinySnapshots.ModelId), new ServingOptions(), TestModels.Cpu);
        host.Install(Info(TinySnapshots.V1, 1), TinySnapshots.V1);
        var e = Assert.Throws<SnapshotFormatException>(() => { host.Install(Info(bad, 2), bad); });
        Assert.Contains("coherence bin table", e.Message);
        Assert.Equal(1, host.Current?.Version);
    }
}
