using CadStream.Records;

namespace CadStream.Sources;

/// <summary>Every input in turn, each by its format's reader; a format not read yet is one problem line, not a stop.</summary>
public static class SourceReading
{
    public static IEnumerable<PairRecord> Read(IEnumerable<SourceFile> files, FieldOptions options, SourceReport report)
    {
        foreach (var file in files)
        {
            IEnumerable<PairRecord> records = file.Format switch
            {
                SourceFormat.Tar or SourceFormat.TarGz => WebDataset.Read(file, options, report),
                SourceFormat.Folder => FolderSamples.Read(file, report).Select(s => SampleFields.ToRecord(s, options, report)),
                SourceFormat.Parquet => ParquetRows.Read(file, options.Columns ?? new ParquetColumns(), report).Select(s => SampleFields.ToRecord(s, options, report)),
                SourceFormat.Jsonl or SourceFormat.Csv => ManifestSamples.Read(file, report).Select(s => SampleFields.ToRecord(s, options, report)),
                _ => NotYet(file, report),
            };
            foreach (var r in records) yield return r;
        }
    }

    static IEnumerable<PairRecord> NotYet(SourceFile file, SourceReport report)
    {
        report.FileFailed(file.Path, null, $"{file.Format.ToString().ToLowerInvariant()} input is not read yet; skipped");
        return [];
    }
}
