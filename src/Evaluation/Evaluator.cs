using CadStream.Data;
using CadStream.Evaluation.Metrics;
using CadStream.Model.Sampling;
using CadStream.Model.Scheduling;
using CadStream.Scoring;
using static TorchSharp.torch;

namespace CadStream.Evaluation;

/// <summary>Quality of one set of generated images against real ones (features of the clean-label classifier).</summary>
public sealed record QualityMetrics(
    int Count, double Coherence, double Guidance,
    double Fid, double Precision, double Recall, double Density, double Coverage,
    double Accuracy, double[] PerClassAccuracy);

/// <summary>Images generated for evaluation, class-balanced: image i asks for class i % classes.</summary>
public sealed record GeneratedSet(Tensor Images, int[] Labels) : IDisposable
{
    public void Dispose() => Images.Dispose();
}

/// <summary>
/// Generates class-balanced samples and scores them against real test images: FID, precision,
/// recall, density, coverage on the classifier's penultimate features, and accuracy (the share
/// the classifier assigns to the requested class). No Inception weights exist here; these
/// numbers compare only with each other.
/// </summary>
public sealed class Evaluator
{
    private readonly FashionClassifier classifier;
    private readonly FeatureSet realFeatures;
    private readonly Metrics.GaussianStats realStats;
    private readonly int k;

    public int RealCount => realFeatures.Rows;

    public Evaluator(FashionClassifier classifier, FashionMnist realImages, int n, int k = 3)
    {
        this.classifier = classifier;
        this.k = k;
        var real = realImages.Slice(0, Math.Min(n, realImages.Count));
        realFeatures = new FeatureSet(real.Count, FashionClassifier.FeatureDim, ClassifierTraining.ExtractFeatures(classifier, real));
        realStats = Metrics.GaussianStats.FromFeatures(realFeatures);
    }

    /// <summary>
    /// n images at one coherence and guidance. Seeds depend only on (seed, class, chunk), so the
    /// same seed gives the same starting noise for every coherence or guidance value.
    /// </summary>
    /// <param name="request">
    /// Makes the request for (class, count, seed, chunk); default: the class label. A text model's evaluation
    /// asks with a prompt naming the class (labelled with it, so accuracy reads the same).
    /// </param>
    public static GeneratedSet Generate(CadPipeline pipeline, int n, double coherence, double guidance, SamplerSettings settings,
        long seed, int batch = 200, Action<int>? imagesDone = null, Func<int, int, long, int, SampleRequest>? request = null, int? classCount = null)
    {
        int classes = classCount ?? pipeline.Spec.NumClasses;
        request ??= (c, take, s, _) => new SampleRequest(c, take, coherence, guidance, s);
        var perClass = new int[classes];
        for (int i = 0; i < n; i++) perClass[i % classes]++;
        var chunks = new List<Tensor>();
        var labels = new List<int>();
        int perChunk = Math.Max(1, batch / classes);
        int done = 0;
        for (int chunk = 0; perClass.Any(c => c > 0); chunk++)
        {
            var jobs = new List<SampleRequest>();
            for (int c = 0; c < classes; c++)
            {
                int take = Math.Min(perChunk, perClass[c]);
                if (take == 0) continue;
                perClass[c] -= take;
                jobs.Add(request(c, take, Seed(seed, c, chunk), chunk));
            }
            var images = pipeline.Sample(jobs, settings);
            for (int j = 0; j < jobs.Count; j++)
            {
                chunks.Add(images[j]);
                labels.AddRange(Enumerable.Repeat(jobs[j].Label, jobs[j].Count));
                done += jobs[j].Count;
            }
            imagesDone?.Invoke(done);
        }
        var all = cat(chunks, 0);
        foreach (var t in chunks) t.Dispose();
        return new GeneratedSet(all, labels.ToArray());
    }

    public static long Seed(long seed, int label, int chunk) => seed * 1_000_003 + label * 10_007 + chunk;

    public QualityMetrics Score(GeneratedSet set, double coherence, double guidance)
    {
        var features = new FeatureSet(set.Labels.Length, FashionClassifier.FeatureDim, ClassifierTraining.ExtractFeatures(classifier, set.Images));
        var logits = ClassifierTraining.PredictLogits(classifier, set.Images);
        var predicted = FashionClassifier.ArgMax(logits);
        var acc = ClassAccuracy.Compute(set.Labels, predicted, FashionClassifier.NumClasses);
        double fid = FrechetDistance.Compute(realStats, Metrics.GaussianStats.FromFeatures(features));
        var m = ManifoldMetrics.Compute(realFeatures, features, k);
        return new QualityMetrics(set.Labels.Length, coherence, guidance, fid, m.Precision, m.Recall, m.Density, m.Coverage,
            acc.Overall, acc.PerClass);
    }
}
