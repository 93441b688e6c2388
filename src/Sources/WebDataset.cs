using CadStream.Records;

namespace CadStream.Sources;

/// <summary>A WebDataset shard (.tar, .tar.gz) whole: members, grouped by key, into records.</summary>
public static class WebDataset
{
    public static IEnumerable<PairRecord> Read(SourceFile shard, FieldOptions options, SourceReport report) =>
        SampleGroups.Group(shard.Path, TarMembers.Read(shard, report)).Select(s => SampleFields.ToRecord(s, options, report));
}
