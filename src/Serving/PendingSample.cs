using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;

namespace CadStream.Serving;

/// <summary>A request accepted into a model's sampling queue, until its batch answers it or its caller gives up.</summary>
sealed class PendingSample(SampleRequest request, SamplerSettings sampler, LoadedModel? model, CancellationToken cancel)
{
    public SampleRequest Request { get; } = request;
    public SamplerSettings Sampler { get; } = sampler;
    /// <summary>The snapshot the request named (held by a reference until it ran), or null for the newest.</summary>
    public LoadedModel? Model { get; } = model;
    public CancellationToken Cancel { get; } = cancel;
    public TaskCompletionSource<SampleOutput> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public CancellationTokenRegistration Registration { get; set; }
    /// <summary>Denoising work asked for: one network pass per step for each image.</summary>
    public long Cost { get; } = ModelHost.RequestCost(request, sampler);
    // 0 while waiting; 1 once it left the queue (taken into a batch, dropped, or failed at shutdown).
    private int left;
    /// <summary>True for the one caller that takes it out of the queue; that caller frees its slot.</summary>
    public bool TryLeave() => Interlocked.Exchange(ref left, 1) == 0;
    public bool HasLeft => Volatile.Read(ref left) == 1;

    /// <summary>Answers the caller with its images or an error; images nobody waits for any more are disposed.</summary>
    public void Finish(SampleOutput? output, Exception? error)
    {
        Registration.Dispose();
        bool taken = output is not null ? Completion.TrySetResult(output) : Completion.TrySetException(error!);
        if (!taken) output?.Dispose();  // the caller gave up (cancelled) before the batch ended
    }
}
