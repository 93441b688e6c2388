using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CadStream.Catalog;
using CadStream.Host.Cli;
using CadStream.Host.Configuration;
using CadStream.Records;
using CadStream.Sources;

namespace CadStream.Host.Commands;

/// <summary>
/// `cadstream demo --from PATH...`: what the demo learns when the user's own data replaces Fashion-MNIST. The inputs
/// are read by the stages of src/Sources as `produce --from` reads them; the first records read say which condition
/// kinds the data carries (captions: text models; labels or class folders: class models), and a CAD and a baseline
/// model of each kind are shaped by <c>--size</c> and <c>--channels</c> on the training settings of the configured ones.
/// </summary>
static class DemoFrom
{
    public static readonly OptionSpec[] Options =
    [
        new("size", $"--from: side of the square images the models learn, 16..{ModelSpec.MaxImageSize} px", "32", ValueName: "PX"),
        new("channels", "--from: image channels the models learn: 3 (RGB) or 1 (grey)", "3", ValueName: "N"),
        // Resuming a stream makes no sense for a demo that loops over its data: every other reading option as produce's,
        // said as the demo uses them.
        .. ProduceFrom.Options.Where(o => o.Name != "resume").Select(o => o.Name switch
        {
            "from" => o with { Help = "train on the user's own data instead of Fashion-MNIST: WebDataset shards (.tar, .tar.gz), Parquet files, folders (class per subfolder, or .txt captions beside the images), JSONL or CSV manifests; files, folders or globs, several at once" },
            "limit" => o with { Help = "--from: only the first N records, looped; 0 = all" },
            "shuffle-buffer" => o with { Help = "--from: mix the stream within a buffer of N records (a new order each pass); 0 = the order read" },
            _ => o,
        }),
    ];

    /// <summary>How many records are read before the demo starts to decide the condition kinds and the classes.</summary>
    public const int ProbeRecords = 1000;

    /// <summary>The inputs, how their fields become records, and the models they train.</summary>
    public sealed record Plan(IReadOnlyList<SourceFile> Files, FieldOptions Fields, long Limit, int ShuffleBuffer,
        IReadOnlyList<ModelSpec> Models, IReadOnlyList<string> Said)
    {
        /// <summary>Distinguishes the snapshot folders of different data shapes, so a run on other data never resumes
        /// from (and then cannot serve) a snapshot with other classes or another image shape.</summary>
        public string Fingerprint => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(
            Models.Select(m => new { m.Id, Kind = m.Kind.Name(), m.Classes, m.Channels, m.ImageSize }))))[..6]);
    }

    /// <summary>Reads and checks the options, reads the first records; bad usage (nothing readable, a size out of range) is a <see cref="UsageException"/>.</summary>
    public static Plan Read(ParsedArgs a, CadStreamSettings settings)
    {
        int size = a.Int("size", 16, ModelSpec.MaxImageSize);
        int channels = a.Int("channels", 1, 3);
        if (channels == 2) throw new UsageException("--channels must be 3 (RGB) or 1 (grey) (got '2')");
        var (files, fields) = ProduceFrom.Inputs(a, model: null);
        long limit = a.Long("limit", 0);
        int shuffle = a.Int("shuffle-buffer", 0, 10_000_000);

        // The first records decide the kinds; their problems are said once the stream runs, not twice.
        var report = new SourceReport();
        var first = SourceReading.Read(files, fields, report).Take(ProbeRecords).ToList();
        if (first.Count == 0)
            throw new UsageException($"--from: nothing could be read from {string.Join(", ", a.All("from"))}" +
                                     (report.Problems.FirstOrDefault() is { } p ? $" ({p})" : "") +
                                     "; give WebDataset shards, Parquet files, folders of images (class per subfolder, or .txt captions beside them), or JSONL/CSV manifests");
        bool captions = first.Any(r => !string.IsNullOrWhiteSpace(r.Caption));
        bool labels = first.Any(r => r.Label is not null || r.LabelName is not null);
        if (!captions && !labels)
            throw new UsageException($"--from: the first {first.Count} records carry neither a caption nor a label, so there is nothing to condition on; " +
                                     "put images in one subfolder per class, or a .txt caption (or .cls label) beside each, or name the columns (--caption-column, --label-column)");

        var said = new List<string>();
        var models = new List<ModelSpec>();
        string shape = $"{channels}x{size}x{size}";
        if (labels)
        {
            var classes = ClassesOf(files, first);
            models.AddRange(Pair(settings, ConditionKind.Class, "own", classes, size, channels));
            said.Add($"{first.Count(r => r.Label is not null || r.LabelName is not null)} of the first {first.Count} records carry a label: class models " +
                     $"{string.Join(", ", models.Select(m => m.Id))} ({shape}) with {classes.Length} classes: {string.Join(", ", classes)}" +
                     (files.All(f => f.Format == SourceFormat.Folder) ? "" : " (the labels seen so far; a record with another label goes to the dead-letter topic)"));
        }
        if (captions)
        {
            // Beside class data, the text models name the classes too: the page's live grid then asks them for each.
            var text = Pair(settings, ConditionKind.Text, labels ? "own-text" : "own", labels ? models[0].Classes : [], size, channels).ToList();
            models.AddRange(text);
            said.Add($"{first.Count(r => !string.IsNullOrWhiteSpace(r.Caption))} of the first {first.Count} records carry a caption: text models " +
                     $"{string.Join(", ", text.Select(m => m.Id))} ({shape})");
        }
        return new Plan(files, fields, limit, shuffle, models, said);
    }


    /// <summary>
    /// The class names: the subfolders of a folder input (all of them, as the folder reader labels its images by them)
    /// and the labels of the first records. Names sort by ordinal; an integer label is an index, so the list is made
    /// long enough for the largest index seen.
    /// </summary>
    static string[] ClassesOf(IReadOnlyList<SourceFile> files, IEnumerable<PairRecord> first)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        int largest = -1;
        void Add(int? index, string? name)
        {
            if (index is int i) largest = Math.Max(largest, i);
            else if (!string.IsNullOrWhiteSpace(name)) names.Add(name.Trim());
        }
        foreach (var folder in files.Where(f => f.Format == SourceFormat.Folder))
            foreach (var sub in Directory.GetDirectories(folder.Path).Where(HasImage))
            {
                var (index, name) = SampleFields.Label(Path.GetFileName(sub));
                Add(index, name);
            }
        foreach (var r in first) Add(r.Label, r.LabelName);
        var classes = names.ToList();
        for (int i = classes.Count; i <= largest; i++) classes.Add($"class {i}");
        return [.. classes];
    }

    static bool HasImage(string folder) => Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
        .Any(p => SampleFields.ImageExtensions.Contains(Path.GetExtension(p).TrimStart('.').ToLowerInvariant()));

    /// <summary>A CAD and a baseline model of the kind, on the training settings of the configured CAD and baseline models.</summary>
    static IEnumerable<ModelSpec> Pair(CadStreamSettings settings, ConditionKind kind, string prefix, string[] classes, int size, int channels)
    {
        var cad = settings.Models.FirstOrDefault(m => m.Mode == TrainingMode.Cad) ?? Fallback;
        var baseline = settings.Models.FirstOrDefault(m => m.Mode == TrainingMode.Baseline) ?? cad with { Mode = TrainingMode.Baseline };
        yield return Shape(cad with { Id = $"{prefix}-cad", Mode = TrainingMode.Cad }, kind, classes, size, channels);
        yield return Shape(baseline with { Id = $"{prefix}-baseline", Mode = TrainingMode.Baseline }, kind, classes, size, channels);
    }

    /// <summary>The demo's own model settings, when the configuration has no CAD model to copy them from.</summary>
    static readonly ModelSpec Fallback = new()
    {
        Width = 32, LearningRate = 0.002, WarmupSteps = 100, SnapshotEverySteps = 200, SnapshotEverySeconds = 15, Guidance = 3.0,
    };

    static ModelSpec Shape(ModelSpec m, ConditionKind kind, string[] classes, int size, int channels)
    {
        var shaped = m with
        {
            Kind = kind,
            Dataset = "",
            Classes = classes,
            Channels = channels,
            ImageSize = size,
            PaddedSize = 0,
            // A level more per doubling past 32 px keeps the deepest feature map as small as the 32 px model's, and
            // a smaller batch keeps a step's CPU time within a few times that model's.
            ChannelMultipliers = size <= 32 ? [1, 2, 2] : size <= 64 ? [1, 2, 2, 2] : [1, 2, 2, 2, 2],
            Batch = size <= 32 ? m.Batch : Math.Min(m.Batch, size <= 64 ? 32 : 16),
        };
        // Captions are attended to at the two deepest levels, whichever sides the size gives them.
        var sides = shaped.LevelSides;
        return shaped with { CrossAttentionResolutions = sides[^Math.Min(2, sides.Length)..] };
    }
}
