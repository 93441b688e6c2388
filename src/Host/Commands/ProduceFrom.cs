using System.Diagnostics;
using CadStream.Host.Cli;
using CadStream.Ingress.Producing;
using CadStream.Records;
using CadStream.Sources;

namespace CadStream.Host.Commands;

/// <summary>
/// `cadstream produce --from PATH...`: the user's own data (docs/interfaces.md, "produce --from") read by the
/// stages of src/Sources and sent by the same producer, rate and format as the Fashion-MNIST stream. File-level
/// problems are one line each on stderr; record-level ones travel to the ingress, which dead-letters them with
/// their reason; the summary counts both.
/// </summary>
static class ProduceFrom
{
    public static readonly OptionSpec[] Options =
    [
        new("from", "read the user's own data: WebDataset shards (.tar, .tar.gz), Parquet files, folders, JSONL or CSV manifests; files, folders or globs, several at once", ValueName: "PATH", Many: true),
        new("limit", "--from: records to send at most; 0 = all", "0", ValueName: "N"),
        new("shuffle-buffer", "--from: mix the stream within a buffer of N records (seeded by --seed); 0 = the order read", "0", ValueName: "N"),
        new("score-field", "--from: the json field of the CLIP-like score (default: similarity when a sample has it)", ValueName: "NAME"),
        new("image-column", "--from Parquet: the image column, bytes or the Hugging Face struct {bytes, path} (default: image)", ValueName: "NAME"),
        new("caption-column", "--from Parquet: the caption column (default: text, else caption)", ValueName: "NAME"),
        new("label-column", "--from Parquet: the label column, integers or class names (default: label)", ValueName: "NAME"),
        new("score-column", "--from Parquet: the score column, read on --score-scale (default: similarity)", ValueName: "NAME"),
        new("resume", "--from: a file that keeps how many records Kafka acknowledged; a re-run with the same inputs and file continues after them (at-least-once)", ValueName: "FILE"),
        new("score-scale", $"--from: the score's scale: {ScoreScales.Vocabulary}; cosine (LAION's similarity) is sent x 100, the scale Scoring:ScoreScale bins", "cosine", ValueName: "SCALE"),
    ];

    /// <summary>The --from options read and checked, before any broker is asked (bad usage is exit 2).</summary>
    public sealed record Plan(IReadOnlyList<SourceFile> Files, FieldOptions Fields, long Limit, int ShuffleBuffer, int Seed, string? Resume, long Start);

    public static Plan Read(ParsedArgs a, string? model)
    {
        var (files, fields) = Inputs(a, model);
        var resume = a.String("resume");
        long start = 0;
        if (resume is not null)
        {
            if (resume.Trim().Length == 0) throw new UsageException("--resume needs a file name");
            try { start = ResumePoint.Load(resume); }
            catch (InvalidDataException e) { throw new UsageException(e.Message); }
        }
        return new Plan(files, fields, a.Long("limit", 0), a.Int("shuffle-buffer", 0, 10_000_000), a.Int("seed"), resume, start);
    }

    /// <summary>The inputs and how their fields become records: --from, --score-field, --score-scale and the column
    /// options, read once for produce and demo alike; bad usage is a <see cref="UsageException"/>.</summary>
    public static (IReadOnlyList<SourceFile> Files, FieldOptions Fields) Inputs(ParsedArgs a, string? model)
    {
        IReadOnlyList<SourceFile> files;
        try { files = SourceFiles.Expand(a.All("from")); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        ScoreScale scale;
        try { scale = ScoreScales.Parse(a.RequireString("score-scale")); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        var field = Column(a, "score-field", "field");
        return (files, new FieldOptions(field, scale, model,
            new ParquetColumns(Column(a, "image-column"), Column(a, "caption-column"), Column(a, "label-column"), Column(a, "score-column"))));
    }

    static string? Column(ParsedArgs a, string option, string what = "column")
    {
        var name = a.String(option);
        if (name is not null && name.Trim().Length == 0) throw new UsageException($"--{option} needs a {what} name");
        return name?.Trim();
    }

    public static int Run(Plan plan, PairProducer producer, double rate, CancellationToken cancel)
    {
        var report = new SourceReport(p => Console.Error.WriteLine($"cadstream produce: {p}"));
        long read = 0, bytes = 0;
        IEnumerable<PairRecord> Counted(IEnumerable<PairRecord> records)
        {
            foreach (var r in records)
            {
                read++;
                bytes += r.Image?.Length ?? 0;
                yield return r;
            }
        }
        var records = ShuffleBuffer.Shuffle(Counted(SourceReading.Read(plan.Files, plan.Fields, report)), plan.ShuffleBuffer, plan.Seed);
        ResumePoint? resume = null;
        long limit = plan.Limit;
        if (plan.Resume is not null)
        {
            // The same inputs and seed give the same order, so the acknowledged prefix is skipped by its length.
            resume = new ResumePoint(plan.Resume, plan.Start);
            producer.Acknowledged += resume.Delivered;
            var point = resume;
            records = records.Skip((int)Math.Min(plan.Start, int.MaxValue)).Select(r => r with { Id = point.Sending(r.Id ?? "") });
            if (plan.Start > 0) Console.Error.WriteLine($"resume: {plan.Start} records acknowledged before ({plan.Resume}); continuing after them");
            if (limit > 0)
            {
                limit -= plan.Start;
                if (limit <= 0) { Console.WriteLine($"produced nothing: --limit {plan.Limit} records were acknowledged already ({plan.Resume})"); return 0; }
            }
        }
        Console.Error.WriteLine($"from: {plan.Files.Count} input(s), {plan.Files.Sum(f => f.Bytes) / 1e6:F1} MB; score scale {plan.Fields.Scale.Name()}" +
                                (plan.Limit > 0 ? $", at most {plan.Limit} records" : ""));

        var line = new ProgressLine();
        var clock = Stopwatch.StartNew();
        string Progress(ProduceProgress p)
        {
            double s = Math.Max(clock.Elapsed.TotalSeconds, 1e-3);
            long done = report.FilesRead + report.FilesFailed;
            // ETA from the share of inputs (or of --limit) done: the sizes of the files are known, their record counts are not.
            double share = limit > 0 ? Math.Max((double)p.Sent / limit, (double)done / plan.Files.Count) : (double)done / plan.Files.Count;
            var eta = share > 0 && share < 1 ? $"  ETA {TimeSpan.FromSeconds(s / share - s):hh\\:mm\\:ss}" : "";
            return $"read {read}  sent {p.Sent}  delivered {p.Delivered}  failed {p.Failed}  {p.Sent / s:F0} records/s  {bytes / 1e6 / s:F1} MB/s  " +
                   $"inputs {done}/{plan.Files.Count}{eta}";
        }
        var summary = PairStreaming.Run(producer, records, limit, rate, p => { resume?.Save(); line.Update(Progress(p)); }, cancel: cancel);
        resume?.Save();
        line.Finish(Progress(new ProduceProgress(summary.Sent, summary.Delivered, summary.Failed, plan.Limit, summary.Elapsed)));

        long unconfirmed = summary.Sent - summary.Delivered - summary.Failed;
        Console.WriteLine($"produced from {plan.Files.Count} input(s) to {producer.Topic} in {summary.Elapsed.TotalSeconds:F1} s: " +
                          $"{read} records read, {summary.Delivered} delivered, {summary.Failed} failed" + (unconfirmed > 0 ? $", {unconfirmed} unconfirmed" : "") +
                          $"; inputs: {report.FilesRead} read, {report.FilesFailed} failed; {report.Problems.Count} problem(s) reported " +
                          "(records with a bad image, no image or an empty caption are dead-lettered by the ingress with their reason)");
        if (resume is not null) Console.WriteLine($"resume: {resume.Mark} records acknowledged in all ({plan.Resume})");
        if (read == 0 && plan.Start == 0)
        {
            Console.Error.WriteLine("cadstream produce: nothing could be read from --from (see the lines above); check the paths and their formats");
            return 1;
        }
        if (summary.Delivered < summary.Sent)
        {
            Console.Error.WriteLine($"cadstream produce: {summary.Sent - summary.Delivered} of {summary.Sent} records were not delivered ({summary.LastError ?? "no delivery report in time"})");
            return 1;
        }
        return summary.Interrupted ? 1 : 0;
    }
}
