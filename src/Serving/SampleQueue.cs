using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Runtime;

namespace CadStream.Serving;

/// <summary>
/// One model's sampling queue: what may wait (<see cref="ServingOptions.MaxQueuedRequests"/> requests, summed cost
/// <see cref="ServingOptions.MaxQueuedCost"/>) and the requests handed to the model's <see cref="TorchWorker{T}"/>.
/// A request holds a slot and its cost from the moment it is accepted until its batch starts. A request whose caller
/// gives up leaves at once: its slot and cost are free again and it is never sampled.
/// </summary>
sealed class SampleQueue(string modelId, ServingOptions options, TorchWorker<PendingSample> worker, LoadedModels models)
{
    // Waiting requests and their summed cost; changed together under gate.
    private readonly object gate = new();
    private int queued;
    private long queuedCost;
    private long dropped;

    /// <summary>Requests waiting for a batch (not counting the one running).</summary>
    public int Length { get { lock (gate) return queued; } }

    /// <summary>Summed cost (images x steps) of the requests waiting for a batch.</summary>
    public long Cost { get { lock (gate) return queuedCost; } }

    /// <summary>Requests dropped from the queue unsampled because their caller gave up.</summary>
    public long Dropped => Interlocked.Read(ref dropped);

    /// <summary>Takes a queue slot and its cost, or throws <see cref="QueueFullException"/>.</summary>
    public void Reserve(long cost)
    {
        lock (gate)
        {
            if (queued >= options.MaxQueuedRequests)
                throw new QueueFullException($"model {modelId}: the sampling queue is full ({options.MaxQueuedRequests} requests waiting); retry later");
            if (queuedCost + cost > options.MaxQueuedCost)
                throw new QueueFullException($"model {modelId}: the sampling queue is full: {queuedCost} of the {options.MaxQueuedCost} " +
                    $"images x steps allowed to wait (Serving:MaxQueuedCost) are taken and this request costs {cost}; retry later");
            queued++;
            queuedCost += cost;
        }
    }

    public void Unreserve(long cost)
    {
        lock (gate)
        {
            queued--;
            queuedCost -= cost;
        }
    }

    /// <summary>Hands a request whose queue slot is taken to the worker.</summary>
    public Task<SampleOutput> Enqueue(SampleRequest request, SamplerSettings sampler, LoadedModel? model, CancellationToken cancellationToken)
    {
        var pending = new PendingSample(request, sampler, model, cancellationToken);
        // Registered first: a token cancelled already gives the request up here, before it is posted.
        if (cancellationToken.CanBeCanceled)
            pending.Registration = cancellationToken.Register(() => GiveUp(pending));
        if (pending.HasLeft) return pending.Completion.Task;
        if (!worker.TryPost(pending))
        {
            pending.Registration.Dispose();
            if (pending.TryLeave())
            {
                Unreserve(pending.Cost);
                if (model is not null) models.Release(model);
            }
            throw new QueueFullException($"model {modelId}: the sampling queue is full; retry later");
        }
        return pending.Completion.Task;
    }

    /// <summary>Takes a waiting request out of the queue into a batch (its slot freed); false when its caller gave up first.</summary>
    public bool TryTake(PendingSample p)
    {
        if (!p.TryLeave()) return false;
        Unreserve(p.Cost);
        return true;
    }

    /// <summary>At shutdown: a request still waiting fails (its slot and named version freed), unless its caller gave up already.</summary>
    public void Fail(PendingSample p, Func<Exception> error)
    {
        if (!p.TryLeave()) return;  // its caller gave up and freed it
        Unreserve(p.Cost);
        if (p.Model is not null) models.Release(p.Model);
        p.Finish(null, error());
    }

    /// <summary>
    /// The caller cancelled: a waiting request leaves the queue now (slot and cost freed, never sampled);
    /// one already in a batch only stops being waited for.
    /// </summary>
    void GiveUp(PendingSample p)
    {
        if (p.TryLeave())
        {
            worker.TryRemove(p);  // else it is in the worker's own list, which skips it
            Unreserve(p.Cost);
            if (p.Model is not null) models.Release(p.Model);
            Interlocked.Increment(ref dropped);
        }
        p.Completion.TrySetCanceled(p.Cancel);
    }
}
