using CadStream.Snapshots;

namespace CadStream.Serving;

/// <summary>
/// The networks one model host has loaded: the one it serves (hot swapped by <see cref="Install"/>), the version it is
/// pinned to, and older kept versions loaded for requests that name them. Whoever samples takes a reference
/// (<see cref="AcquireCurrent"/>, <see cref="AcquireVersionAsync"/>) and lets go of it with <see cref="Release"/>,
/// so a swapped-out network lives until its last batch ends.
/// </summary>
sealed class LoadedModels(string modelId, SnapshotLoader loader, ServingOptions options,
    Func<long, CancellationToken, Task<(SnapshotInfo Info, byte[] Bytes)>>? fetch)
{
    private readonly object swapGate = new();
    // Older kept versions loaded for requests that name them, most recently used last.
    private readonly List<LoadedModel> versions = [];
    private readonly SemaphoreSlim loading = new(1, 1);
    private LoadedModel? current;
    private long? pinned;
    private long disposed;

    /// <summary>The model now served, or null before the first one is installed (read without a reference: for its facts only).</summary>
    public LoadedModel? Current => Volatile.Read(ref current);

    /// <summary>Swapped-out networks disposed so far (after their last batch).</summary>
    public long Disposed => Interlocked.Read(ref disposed);

    /// <summary>The version pinned to (a rollback), or null: the newest is followed.</summary>
    public long? PinnedVersion { get { lock (swapGate) return pinned; } }

    public void Pin(long? version)
    {
        if (version is < 1) throw new ArgumentException($"a snapshot version is >= 1 (got {version})");
        lock (swapGate) pinned = version;
    }

    /// <summary>Loads the bytes (on the caller's thread) and swaps them in; false when the version is not newer (or, for a rollback, already served).</summary>
    public bool Install(SnapshotInfo info, byte[] snapshotBytes, bool rollback)
    {
        if (Current?.Info is { } served && (rollback ? served.Version == info.Version : served.Version >= info.Version)) return false;
        var loaded = loader.Load(info, snapshotBytes);
        LoadedModel? old;
        lock (swapGate)
        {
            old = current;
            if (old is not null && (rollback ? old.Info.Version == info.Version : old.Info.Version >= info.Version)) old = loaded;  // lost a race
            else Volatile.Write(ref current, loaded);
        }
        if (old == loaded)
        {
            Release(loaded);
            return false;
        }
        ServingMetrics.SnapshotVersion.WithLabels(modelId).Set(info.Version);
        if (old is not null) Release(old);
        return true;
    }

    /// <summary>A reference to the served network, or null before the first one.</summary>
    public LoadedModel? AcquireCurrent()
    {
        lock (swapGate)
        {
            current?.AddRef();
            return current;
        }
    }

    /// <summary>
    /// A reference to the network of a named version: the served one, one already loaded, or one fetched
    /// from the store now (kept loaded, the least recently used dropped past <see cref="ServingOptions.LoadedVersions"/>).
    /// Throws <see cref="SnapshotNotFoundException"/> when the store does not keep it.
    /// </summary>
    /// <summary>Whether <paramref name="version"/> is served now or kept loaded (a request for it rebuilds nothing).</summary>
    public bool IsLoaded(long version)
    {
        lock (swapGate) return current?.Info.Version == version || versions.Any(v => v.Info.Version == version);
    }

    public async Task<LoadedModel> AcquireVersionAsync(long version, CancellationToken cancel)
    {
        LoadedModel? Find()
        {
            lock (swapGate)
            {
                if (current is { } c && c.Info.Version == version) { c.AddRef(); return c; }
                var v = versions.FirstOrDefault(x => x.Info.Version == version);
                if (v is null) return null;
                versions.Remove(v);
                versions.Add(v);
                v.AddRef();
                return v;
            }
        }
        if (Find() is { } found) return found;
        if (fetch is null) throw new SnapshotNotFoundException($"model {modelId}: this host cannot fetch snapshot versions");
        await loading.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            if (Find() is { } raced) return raced;
            var (info, bytes) = await fetch(version, cancel).ConfigureAwait(false);
            var loaded = await Task.Factory.StartNew(() => loader.Load(info, bytes), cancel, TaskCreationOptions.LongRunning, TaskScheduler.Default)
                .ConfigureAwait(false);
            var dropped = new List<LoadedModel>();
            lock (swapGate)
            {
                versions.Add(loaded);  // the list's own reference
                while (versions.Count > Math.Max(1, options.LoadedVersions)) { dropped.Add(versions[0]); versions.RemoveAt(0); }
                loaded.AddRef();       // the caller's
            }
            foreach (var d in dropped) Release(d);
            return loaded;
        }
        finally { loading.Release(); }
    }

    public void Release(LoadedModel model)
    {
        if (model.Release()) Interlocked.Increment(ref disposed);
    }

    /// <summary>At shutdown, after the last batch: lets go of the served network and every older one.</summary>
    public void ReleaseAll()
    {
        LoadedModel? last;
        List<LoadedModel> older;
        lock (swapGate)
        {
            last = current;
            current = null;
            older = [.. versions];
            versions.Clear();
        }
        if (last is not null) Release(last);
        foreach (var v in older) Release(v);
    }
}
