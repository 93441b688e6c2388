using System.Collections.Concurrent;

namespace CadStream.Sources;

/// <summary>A file-level problem: the file (and member, where there is one) and what is wrong.</summary>
public sealed record SourceProblem(string File, string? Member, string Reason)
{
    public override string ToString() => Member is null ? $"{File}: {Reason}" : $"{File}, member {Member}: {Reason}";
}

/// <summary>
/// Where the stages report what they could not read, so nothing is dropped uncounted: every problem is kept (for
/// the one line per problem on stderr) and counted by outcome for the summary.
/// </summary>
public sealed class SourceReport
{
    readonly ConcurrentQueue<SourceProblem> problems = new();
    readonly Action<SourceProblem>? onProblem;
    long filesRead, filesFailed;

    public SourceReport(Action<SourceProblem>? onProblem = null) => this.onProblem = onProblem;

    public IReadOnlyCollection<SourceProblem> Problems => problems;
    public long FilesRead => Interlocked.Read(ref filesRead);
    public long FilesFailed => Interlocked.Read(ref filesFailed);

    public void Problem(string file, string? member, string reason)
    {
        var p = new SourceProblem(file, member, reason);
        problems.Enqueue(p);
        onProblem?.Invoke(p);
    }

    /// <summary>A file read to its end (problems inside it may still have been reported).</summary>
    public void FileDone() => Interlocked.Increment(ref filesRead);

    /// <summary>A file that could not be read to its end; <see cref="Problem"/> says why.</summary>
    public void FileFailed(string file, string? member, string reason)
    {
        Interlocked.Increment(ref filesFailed);
        Problem(file, member, reason);
    }
}
