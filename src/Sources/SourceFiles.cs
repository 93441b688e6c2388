namespace CadStream.Sources;

/// <summary>How a file is read, from its name.</summary>
public enum SourceFormat { Tar, TarGz, Jsonl, Csv, Folder, Parquet }

/// <summary>One input: a file or a folder, its format, and the name its records' ids start with.</summary>
public sealed record SourceFile(string Path, SourceFormat Format, string Name, long Bytes);

/// <summary>
/// Stage 1: the paths given on the command line (files, folders, globs such as shards/*.tar) into the inputs they
/// name, in a stable order (sorted per argument), so a re-run reads the same records in the same order.
/// </summary>
public static class SourceFiles
{
    public static SourceFormat? FormatOf(string path)
    {
        var name = System.IO.Path.GetFileName(path).ToLowerInvariant();
        if (name.EndsWith(".tar.gz", StringComparison.Ordinal) || name.EndsWith(".tgz", StringComparison.Ordinal)) return SourceFormat.TarGz;
        return System.IO.Path.GetExtension(name) switch
        {
            ".tar" => SourceFormat.Tar,
            ".jsonl" or ".ndjson" => SourceFormat.Jsonl,
            ".csv" => SourceFormat.Csv,
            ".parquet" => SourceFormat.Parquet,
            _ => null,
        };
    }

    /// <summary>Expands every argument; an argument that names nothing readable is an <see cref="ArgumentException"/>
    /// with one line saying which and why (bad usage).</summary>
    public static IReadOnlyList<SourceFile> Expand(IEnumerable<string> arguments)
    {
        var files = new List<SourceFile>();
        foreach (var arg in arguments)
        {
            if (Directory.Exists(arg))
            {
                files.Add(new SourceFile(arg, SourceFormat.Folder, System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(arg))), 0));
                continue;
            }
            var matches = arg.IndexOfAny(['*', '?']) >= 0 ? Glob(arg) : File.Exists(arg) ? [arg] : [];
            if (matches.Count == 0)
                throw new ArgumentException($"--from {arg}: no such file or folder");
            foreach (var path in matches)
            {
                var format = FormatOf(path) ?? throw new ArgumentException(
                    $"--from {path}: unknown kind of file; expected .tar, .tar.gz, .parquet, .jsonl, .csv or a folder");
                files.Add(new SourceFile(path, format, System.IO.Path.GetFileName(path), new FileInfo(path).Length));
            }
        }
        return files;
    }

    /// <summary>A glob in the file name part only (shards/*.tar, data/part-0000?.parquet): what shells and webdataset's
    /// brace-free patterns need, without a matcher package.</summary>
    static List<string> Glob(string pattern)
    {
        var dir = System.IO.Path.GetDirectoryName(pattern);
        if (string.IsNullOrEmpty(dir)) dir = ".";
        if (dir.IndexOfAny(['*', '?']) >= 0)
            throw new ArgumentException($"--from {pattern}: a wildcard may only stand in the file name, not in a folder");
        if (!Directory.Exists(dir)) return [];
        var found = Directory.GetFiles(dir, System.IO.Path.GetFileName(pattern));
        Array.Sort(found, StringComparer.Ordinal);
        return [.. found];
    }
}
