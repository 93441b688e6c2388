using System.Formats.Tar;
using System.IO.Compression;

namespace CadStream.Sources;

/// <summary>One regular file inside a shard.</summary>
public sealed record TarMember(string Name, byte[] Data);

/// <summary>
/// Stage 2 of a WebDataset shard: its regular files in the order they are stored, read as a stream (System.Formats.Tar;
/// a .tar.gz through GZipStream), so a shard is never held whole. A truncated or corrupt shard ends with one problem
/// naming the file and the last member read; the members before it are kept.
/// </summary>
public static class TarMembers
{
    /// <summary>The largest member read; a bigger one is a problem of its own (records are at most 1 MiB anyway).</summary>
    public const long MaxMemberBytes = 64L << 20;

    public static IEnumerable<TarMember> Read(SourceFile file, SourceReport report)
    {
        Stream stream;
        try { stream = File.OpenRead(file.Path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            report.FileFailed(file.Path, null, $"cannot open ({e.Message})");
            yield break;
        }
        using (stream)
        {
            Stream body = file.Format == SourceFormat.TarGz ? new GZipStream(stream, CompressionMode.Decompress) : stream;
            using var reader = new TarReader(body);
            string? last = null;
            while (true)
            {
                TarMember? member = null;
                string? failure = null;
                bool end = false;
                try
                {
                    var entry = reader.GetNextEntry(copyData: false);
                    if (entry is null) end = true;
                    else if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile)
                    {
                        if (entry.Length > MaxMemberBytes)
                            report.Problem(file.Path, entry.Name, $"member of {entry.Length} bytes is over {MaxMemberBytes} bytes; skipped");
                        else
                        {
                            var data = new byte[entry.Length];
                            if (entry.DataStream is { } s) s.ReadExactly(data);
                            member = new TarMember(entry.Name, data);
                        }
                        last = entry.Name;
                    }
                }
                catch (Exception e) when (e is EndOfStreamException or InvalidDataException or FormatException or IOException)
                {
                    failure = $"truncated or corrupt tar after {(last is null ? "its start" : $"member {last}")} ({e.Message}); the members before it were read";
                }
                if (failure is not null) { report.FileFailed(file.Path, last, failure); yield break; }
                if (end) { report.FileDone(); yield break; }
                if (member is not null) yield return member;
            }
        }
    }
}
