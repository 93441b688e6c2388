using CadStream.Snapshots;
using static TorchSharp.torch;

namespace CadStream.Serving;

/// <summary>A request's images, (Count, C, H, W) on the CPU in [-1, 1], and the snapshot that made them. Dispose it.</summary>
public sealed class SampleOutput(Tensor images, SnapshotInfo snapshot) : IDisposable
{
    public Tensor Images { get; } = images;
    public SnapshotInfo Snapshot { get; } = snapshot;
    public void Dispose() => Images.Dispose();
}
