using TorchSharp;

namespace CadStream.Runtime;

/// <summary>
/// One thread that owns TorchSharp state, fed by a bounded queue. Dispose scopes, grad mode and
/// libtorch's thread count are per thread and do not follow an await, so every network a trainer or
/// a serving host runs lives on its worker's thread; everything else talks to it through
/// <see cref="TryPost"/>. A body that throws ends the worker and is reported to the owner at once
/// (<c>onFault</c>, on the worker's thread) and through <see cref="Completion"/>.
/// </summary>
public sealed class TorchWorker<T> : IDisposable
{
    private readonly object gate = new();
    private readonly Queue<T> queue = new();
    private readonly int threads;
    private readonly TaskCompletionSource completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Thread? thread;
    private bool stopping;

    /// <param name="name">Thread name, for logs and debuggers.</param>
    /// <param name="capacity">Items that may wait; <see cref="TryPost"/> refuses more.</param>
    /// <param name="threads">libtorch CPU threads of this worker (0 = the process default).</param>
    public TorchWorker(string name, int capacity, int threads = 0)
    {
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), "capacity must be >= 1");
        Name = name;
        Capacity = capacity;
        this.threads = threads;
    }

    public string Name { get; }
    public int Capacity { get; }
    public int Count { get { lock (gate) return queue.Count; } }

    /// <summary>Ends when the body returns; faulted with its exception when it threw.</summary>
    public Task Completion => completion.Task;

    /// <summary>Starts the thread running <paramref name="body"/> over this worker's inbox.</summary>
    public void Start(Action<Inbox> body, Action<Exception>? onFault = null)
    {
        lock (gate)
        {
            if (thread is not null) throw new InvalidOperationException($"worker {Name} is already started");
            thread = new Thread(() => Run(body, onFault)) { IsBackground = true, Name = Name };
        }
        thread.Start();
    }

    void Run(Action<Inbox> body, Action<Exception>? onFault)
    {
        try
        {
            // OpenMP's team size is per calling thread: this sets this worker's only.
            if (threads > 0 && TorchRuntime.Device.type == DeviceType.CPU) torch.set_num_threads(threads);
            body(new Inbox(this));
            completion.TrySetResult();
        }
        catch (Exception e)
        {
            try { onFault?.Invoke(e); }
            finally { completion.TrySetException(e); }
        }
    }

    /// <summary>Queues an item; false when the queue is full (a stopping worker still takes items to finish with).</summary>
    public bool TryPost(T item)
    {
        lock (gate)
        {
            if (queue.Count >= Capacity) return false;
            queue.Enqueue(item);
            Monitor.PulseAll(gate);
            return true;
        }
    }

    /// <summary>
    /// Takes a queued item out before the body sees it (its owner gave up on it); false when it is not
    /// in the queue (the body already took it, or it was never posted).
    /// </summary>
    public bool TryRemove(T item)
    {
        lock (gate)
        {
            var comparer = EqualityComparer<T>.Default;
            if (!queue.Any(x => comparer.Equals(x, item))) return false;
            var rest = queue.Where(x => !comparer.Equals(x, item)).ToArray();
            queue.Clear();
            foreach (var x in rest) queue.Enqueue(x);
            return true;
        }
    }

    /// <summary>Asks the body to finish (<see cref="Inbox.Stopping"/>) and wakes it.</summary>
    public void RequestStop()
    {
        lock (gate)
        {
            stopping = true;
            Monitor.PulseAll(gate);
        }
    }

    /// <summary>Waits for the thread to end; false on timeout.</summary>
    public bool Join(TimeSpan timeout) => thread is null || thread.Join(timeout);

    public void Dispose()
    {
        RequestStop();
        if (thread is not null && thread != Thread.CurrentThread) thread.Join(TimeSpan.FromSeconds(30));
    }

    /// <summary>The body's view of the queue; use it on the worker's thread only.</summary>
    public sealed class Inbox
    {
        private readonly TorchWorker<T> owner;
        internal Inbox(TorchWorker<T> owner) => this.owner = owner;

        /// <summary>Set once the owner asked the worker to finish.</summary>
        public bool Stopping { get { lock (owner.gate) return owner.stopping; } }

        public bool TryTake(out T item)
        {
            lock (owner.gate) return owner.queue.TryDequeue(out item!);
        }

        /// <summary>Everything queued now, oldest first.</summary>
        public List<T> TakeAll()
        {
            lock (owner.gate)
            {
                var all = owner.queue.ToList();
                owner.queue.Clear();
                return all;
            }
        }

        /// <summary>Waits up to <paramref name="timeout"/> for an item or a stop request; true when either is there.</summary>
        public bool Wait(TimeSpan timeout)
        {
            lock (owner.gate)
            {
                if (owner.queue.Count > 0 || owner.stopping) return true;
                Monitor.Wait(owner.gate, timeout);
                return owner.queue.Count > 0 || owner.stopping;
            }
        }

        /// <summary>Waits up to <paramref name="timeout"/> for an item, stopping or not (a body finishing up); true when one is there.</summary>
        public bool WaitForItem(TimeSpan timeout)
        {
            lock (owner.gate)
            {
                if (owner.queue.Count > 0) return true;
                Monitor.Wait(owner.gate, timeout);
                return owner.queue.Count > 0;
            }
        }

        /// <summary>Waits until an item or a stop request is there.</summary>
        public void WaitForever()
        {
            lock (owner.gate)
                while (owner.queue.Count == 0 && !owner.stopping) Monitor.Wait(owner.gate);
        }
    }
}
