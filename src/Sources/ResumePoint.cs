using System.Globalization;

namespace CadStream.Sources;

/// <summary>
/// <c>produce --resume FILE</c>: how many records at the start of the stream (in the order sent: the inputs in
/// order, the seeded shuffle) Kafka has acknowledged, every one of them. The stream is numbered as it is sent; a
/// delivery report marks its number; the mark moves over the acknowledged prefix only, so a record that failed or
/// was never reported before a crash is sent again (at-least-once, nothing skipped). Written to a temporary file and
/// renamed, so a crash leaves the old mark or the new one, never half of one.
/// </summary>
public sealed class ResumePoint
{
    readonly string path;
    readonly object gate = new();
    readonly Dictionary<string, Queue<long>> pending = new(StringComparer.Ordinal);
    readonly SortedSet<long> acknowledged = [];
    long next;
    long mark;
    long written = -1;

    public ResumePoint(string path, long start)
    {
        this.path = path;
        next = mark = start;
    }

    /// <summary>The number of leading records acknowledged by a run before (0 for a new file).</summary>
    public static long Load(string path)
    {
        if (!File.Exists(path)) return 0;
        var text = File.ReadAllText(path).Trim();
        if (text.StartsWith("acknowledged ", StringComparison.Ordinal) &&
            long.TryParse(text["acknowledged ".Length..].Split('\n')[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            return n;
        throw new InvalidDataException($"--resume {path}: not a resume file of cadstream produce (it starts with 'acknowledged N'); remove it to start over");
    }

    public long Mark { get { lock (gate) return mark; } }

    /// <summary>Numbers a record as it is handed to the producer.</summary>
    public string Sending(string id)
    {
        lock (gate)
        {
            if (!pending.TryGetValue(id, out var q)) pending[id] = q = new Queue<long>();
            q.Enqueue(next++);
        }
        return id;
    }

    /// <summary>A delivery report: only an acknowledged record moves the mark. Reports of one key come in the order sent
    /// (one partition per key), so the oldest number of that id is the one reported.</summary>
    public void Delivered(string? id, bool ok)
    {
        if (id is null) return;
        lock (gate)
        {
            if (!pending.TryGetValue(id, out var q) || q.Count == 0) return;
            long n = q.Dequeue();
            if (q.Count == 0) pending.Remove(id);
            if (!ok) return;
            acknowledged.Add(n);
            while (acknowledged.Count > 0 && acknowledged.Min == mark) { acknowledged.Remove(mark); mark++; }
        }
    }

    /// <summary>Stores the mark when it moved.</summary>
    public void Save()
    {
        long m = Mark;
        if (m == written) return;
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, $"acknowledged {m}\n");
        File.Move(tmp, path, overwrite: true);
        written = m;
    }
}
