using CadStream.Model;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Snapshots;
using CadStream.Snapshots.Redis;
using CadStream.Serving;
using CadStream.Tests.Model;
using static TorchSharp.torch;

namespace CadStream.Tests.Serving;

/// <summary>A request and its sampler settings in one line, as these tests write them.</summary>
sealed record SampleJob(int Label, int Count = 1, double Coherence = 1.0, double Guidance = 0.0, int Steps = 50,
    SamplerKind Sampler = SamplerKind.Ddim, long Seed = 0);

static class SampleJobs
{
    public static Task<SampleOutput> SampleAsync(this ModelHost host, SampleJob job) =>
        host.SampleAsync(new SampleRequest(job.Label, job.Count, job.Coherence, job.Guidance, job.Seed), new SamplerSettings(job.Steps, job.Sampler));
}

/// <summary>Dynamic batching and snapshot swapping of one <see cref="ModelHost"/>, without HTTP.</summary>
public sealed class ModelHostTests : IAsyncLifetime
{
    private ModelHost host = null!;

    static SnapshotInfo Info(byte[] bytes, long version) =>
        new(version, CadSnapshot.Sha256Hex(bytes), bytes.Length, version, version * 8, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    ModelHost NewHost(int maxBatchImages = 64)
    {
        var h = new ModelHost(TestModels.Fashion(TinySnapshots.ModelId), new ServingOptions { MaxBatchImages = maxBatchImages }, TestModels.Cpu);
        h.Install(Info(TinySnapshots.V1, 1), TinySnapshots.V1);
        return h;
    }

    public Task InitializeAsync()
    {
        host = NewHost();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await host.DisposeAsync();

    /// <summary>Occupies the sampling thread, so what is queued next waits and is batched together.</summary>
    Task<SampleOutput> Blocker(int steps = 60) => host.SampleAsync(new SampleJob(0, Steps: steps, Seed: 99));

    [Fact]
    public async Task Queued_requests_run_as_one_batch_with_the_same_images_as_alone()
    {
        var job = new SampleJob(Label: 3, Count: 2, Coherence: 0.7, Guidance: 1.5, Steps: 5, Seed: 42);
        using var alone = await host.SampleAsync(job);
        long batchesBefore = host.BatchesRun, passesBefore = host.NetworkPasses;

        var blocker = Blocker();
        var jobs = new[] { job, job with { Label = 1, Seed = 7 }, job with { Guidance = 0, Seed = 8 }, job with { Count = 3, Coherence = 0.1, Seed = 9 } };
        var tasks = jobs.Select(j => host.SampleAsync(j)).ToArray();
        (await blocker).Dispose();
        var outputs = await Task.WhenAll(tasks);
        try
        {
            Assert.Equal(2, host.BatchesRun - batchesBefore);  // the blocker, then all four together
            Assert.Equal(60 + 5, host.NetworkPasses - passesBefore);
            Assert.Equal(jobs.Select(j => (long)j.Count), outputs.Select(o => o.Images.shape[0]));
            Assert.All(outputs, o => Assert.Equal(1, o.Snapshot.Version));
            // A request's images depend on its own seed and inputs, not on what it was batched with.
            Assert.True(alone.Images.allclose(outputs[0].Images, rtol: 0, atol: 1e-5),
                $"max difference {(alone.Images - outputs[0].Images).abs().max().item<float>()}");
            Assert.False(outputs[0].Images.allclose(outputs[1].Images));
        }
        finally { foreach (var o in outputs) o.Dispose(); }
    }

    [Fact]
    public async Task Different_step_counts_and_samplers_go_in_different_batches()
    {
        long before = host.BatchesRun;
        var blocker = Blocker();
        var tasks = new[]
        {
            host.SampleAsync(new SampleJob(1, Steps: 3, Seed: 1)),
            host.SampleAsync(new SampleJob(2, Steps: 4, Seed: 2)),
            host.SampleAsync(new SampleJob(3, Steps: 3, Seed: 3)),
            host.SampleAsync(new SampleJob(4, Steps: 4, Seed: 4)),
            host.SampleAsync(new SampleJob(5, Steps: 3, Sampler: SamplerKind.Ddpm, Seed: 5)),
        };
        (await blocker).Dispose();
        foreach (var o in await Task.WhenAll(tasks)) o.Dispose();
        Assert.Equal(1 + 3, host.BatchesRun - before);  // steps 3 ddim, steps 4 ddim, steps 3 ddpm
    }

    [Fact]
    public async Task A_batch_holds_at_most_the_configured_images()
    {
        await using var small = NewHost(maxBatchImages: 4);
        var block = small.SampleAsync(new SampleJob(0, Steps: 60, Seed: 1));
        var tasks = Enumerable.Range(0, 3).Select(i => small.SampleAsync(new SampleJob(i, Count: 2, Steps: 3, Seed: i))).ToArray();
        (await block).Dispose();
        foreach (var o in await Task.WhenAll(tasks)) o.Dispose();
        Assert.Equal(1 + 2, small.BatchesRun);  // [2 + 2] then [2]
        // A single request larger than the limit still runs (alone).
        using var big = await small.SampleAsync(new SampleJob(0, Count: 6, Steps: 2, Seed: 1));
        Assert.Equal(6, big.Images.shape[0]);
    }

    [Fact]
    public async Task A_swap_lets_the_running_batch_finish_on_its_weights_then_frees_them()
    {
        var running = host.SampleAsync(new SampleJob(1, Steps: 300, Seed: 1));
        while (host.QueueLength > 0) await Task.Delay(5);  // the sampling thread has taken it, on v1
        Assert.True(host.Install(Info(TinySnapshots.V2, 2), TinySnapshots.V2));
        Assert.Equal(2, host.Current?.Version);
        if (!running.IsCompleted) Assert.Equal(0, host.ModelsDisposed);  // still in use by the running batch
        using (var first = await running) Assert.Equal(1, first.Snapshot.Version);
        Assert.Equal(1, host.ModelsDisposed);
        using var next = await host.SampleAsync(new SampleJob(1, Steps: 2, Seed: 1));
        Assert.Equal(2, next.Snapshot.Version);
        // Older or equal versions are ignored; bytes that do not match the record are refused.
        Assert.False(host.Install(Info(TinySnapshots.V1, 1), TinySnapshots.V1));
        Assert.Throws<SnapshotIntegrityException>(() => host.Install(Info(TinySnapshots.V1, 3) with { Sha256 = new string('0', 64) }, TinySnapshots.V1));
        Assert.Equal(2, host.Current?.Version);
    }

    [Fact]
    public async Task A_full_queue_refuses_and_a_host_without_snapshot_says_so()
    {
        await using var tiny = new ModelHost(TestModels.Fashion(TinySnapshots.ModelId), new ServingOptions { MaxQueuedRequests = 2 }, TestModels.Cpu);
        Assert.Throws<NoSnapshotException>(() => { _ = tiny.SampleAsync(new SampleJob(0)); });
        tiny.Install(Info(TinySnapshots.V1, 1), TinySnapshots.V1);
        var block = tiny.SampleAsync(new SampleJob(0, Steps: 200, Seed: 1));
        while (tiny.QueueLength > 0) await Task.Delay(5);  // the sampling thread has taken it
        var queued = new[] { tiny.SampleAsync(new SampleJob(0, Steps: 2)), tiny.SampleAsync(new SampleJob(0, Steps: 2)) };
        var e = Assert.Throws<QueueFullException>(() => { _ = tiny.SampleAsync(new SampleJob(0, Steps: 2)); });
        Assert.Contains("queue is full", e.Message);
        (await block).Dispose();
        foreach (var o in await Task.WhenAll(queued)) o.Dispose();
    }
}
