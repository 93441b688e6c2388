using System.Diagnostics;
using CadStream.Catalog.Judging;
using CadStream.Runtime;

namespace CadStream.Scoring;

/// <summary>
/// The node's clean-label classifier file, which may still be in the making: `cadstream demo` in a fresh
/// folder starts its node at once and trains the classifier in the background. Its users wait for it or go
/// without: the judge of live samples says where it stands and readings wait (<see cref="ClassifierSampleJudge"/>),
/// scorers give class and text pairs without coherence or score c = 1 until it is ready (<see cref="ClassifierCopy"/>).
/// </summary>
public sealed class ClassifierSource
{
    private readonly TaskCompletionSource ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource stopping = new();
    private volatile JudgeState state;
    private Thread? training;

    private ClassifierSource(string path, JudgeState state)
    {
        Path = path;
        this.state = state;
    }

    /// <summary>Where the classifier is (or will be, once made).</summary>
    public string Path { get; }
    /// <summary>Where it stands: ready, training (how far, how long left), or failed.</summary>
    public JudgeState State => state;
    public bool IsReady => ready.Task.IsCompletedSuccessfully;
    /// <summary>Completes when the file is there; faults when making it failed.</summary>
    public Task Ready => ready.Task;

    /// <summary>A classifier file that exists now.</summary>
    /// <exception cref="FileNotFoundException">It does not.</exception>
    public static ClassifierSource Existing(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Scoring:Classifier names '{path}', which does not exist (make one with cadstream train-classifier)", path);
        var source = new ClassifierSource(path, JudgeState.Available);
        source.ready.TrySetResult();
        return source;
    }

    /// <summary>
    /// A classifier still to be made: <see cref="TrainInBackground"/> makes it, or another maker calls <see cref="Report"/>,
    /// then <see cref="Completed"/> or <see cref="Fail"/>.
    /// </summary>
    public static ClassifierSource Pending(string path) => new(path, new JudgeState(JudgeReadiness.Preparing, "training 0 %", 0));

    /// <summary>How far the making is (0..1) and, when known, how long it has left.</summary>
    public void Report(double progress, TimeSpan? left)
    {
        if (ready.Task.IsCompleted) return;
        progress = Math.Clamp(progress, 0, 1);
        state = new JudgeState(JudgeReadiness.Preparing,
            $"training {progress * 100:F0} %" + (left is { } l ? $", ETA {Eta.Format(l.TotalSeconds)}" : ""), progress);
    }

    /// <summary>The file is written: users may load it from now on.</summary>
    public void Completed()
    {
        if (!File.Exists(Path)) throw new InvalidOperationException($"the classifier was reported made, but '{Path}' does not exist");
        state = JudgeState.Available;
        ready.TrySetResult();
    }

    public void Fail(Exception error)
    {
        state = new JudgeState(JudgeReadiness.Failed, $"failed: {error.Message}");
        ready.TrySetException(error);
    }

    /// <summary>
    /// Trains the classifier on its own thread into <see cref="Path"/> (saved there for later runs), reporting progress
    /// with an ETA from the pace so far. <paramref name="train"/> gets a callback for its progress (0..1), which throws
    /// <see cref="OperationCanceledException"/> once <see cref="Stop"/> was called.
    /// </summary>
    /// <param name="threads">libtorch threads of the training thread (0: the process default).</param>
    /// <param name="finished">Called once with the result (test accuracy, time) or the error, on the training thread; not when stopped.</param>
    public void TrainInBackground(Func<Action<double>, ClassifierResult> train, int threads = 0, Action<ClassifierResult?, Exception?>? finished = null)
    {
        var clock = Stopwatch.StartNew();
        _ = TorchRuntime.Device;  // libtorch is loaded (and the device picked) before the thread uses it
        var thread = new Thread(() =>
        {
            try
            {
                // OpenMP's team size is per calling thread: this sets the classifier's only, not the trainers'.
                if (threads > 0) TorchSharp.torch.set_num_threads(threads);
                var result = train(p =>
                {
                    stopping.Token.ThrowIfCancellationRequested();
                    double elapsed = clock.Elapsed.TotalSeconds;
                    Report(p, p > 0.02 ? TimeSpan.FromSeconds(elapsed * (1 - p) / p) : null);
                });
                using (result.Model) result.Model.Save(Path);
                Completed();
                finished?.Invoke(result, null);
            }
            catch (OperationCanceledException e) when (stopping.IsCancellationRequested) { Fail(new OperationCanceledException("stopped before it was trained", e)); }
            catch (Exception e)
            {
                Fail(e);
                finished?.Invoke(null, e);
            }
        }) { IsBackground = true, Name = "classifier-training" };
        lock (stopping)
        {
            if (training is not null) throw new InvalidOperationException("the classifier is already being trained");
            training = thread;
        }
        thread.Start();
    }

    /// <summary>
    /// Stops a training in the background and waits for its thread: a process that ends while libtorch runs on
    /// another thread can crash on the way out. False when the thread did not end within <paramref name="timeout"/>.
    /// </summary>
    public bool Stop(TimeSpan timeout)
    {
        stopping.Cancel();
        Thread? thread;
        lock (stopping) thread = training;
        return thread is null || thread.Join(timeout);
    }
}

/// <summary>
/// One user's own copy of the node's classifier (a scorer's, the judge's): TorchSharp modules are not shared
/// across threads. Loaded on first use once the source is ready; null before.
/// </summary>
public sealed class ClassifierCopy(ClassifierSource source) : IDisposable
{
    private FashionClassifier? model;

    public FashionClassifier? Get() => model ??= source.IsReady ? FashionClassifier.Load(source.Path) : null;

    public void Dispose() => model?.Dispose();
}
