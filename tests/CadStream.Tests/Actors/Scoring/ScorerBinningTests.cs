using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using Akka.Routing;
using CadStream.Actors.Scoring;
using CadStream.Actors.Training;
using CadStream.Records.Coherence;
using CadStream.Scoring;
using CadStream.Tests.Ingress;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;

namespace CadStream.Tests.Actors.Scoring;

/// <summary>The node's bin tables: edges from the first N raw scores, then frozen.</summary>
public sealed class CoherenceTablesTests
{
    static double[] Uniform(int n, double from, double to, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => from + (to - from) * rng.NextDouble()).ToArray();
    }

    [Fact]
    public void A_table_freezes_after_n_scores_and_later_scores_never_move_it()
    {
        var tables = new CoherenceTables(sampleSize: 1000, bins: 8, scoreScale: 100);
        var first = Uniform(1000, 20, 40, seed: 1);  // CLIP-like scores on a 0..100 scale
        Assert.Null(tables.Current("m"));
        tables.Bin("m", first[..999]);
        Assert.Null(tables.Get("m"));
        var provisional = tables.Current("m")!;
        Assert.Equal(0, provisional.Version);
        Assert.Equal(999, tables.Gathered("m"));

        var (_, table) = tables.Bin("m", first[999..]);
        var frozen = tables.Get("m")!;
        Assert.Same(frozen, table);
        Assert.Equal(1, frozen.Version);
        Assert.Equal(1000, frozen.SampleCount);
        Assert.Equal(100, frozen.ScoreScale);
        Assert.True(frozen.SameMeaning(CoherenceBins.Estimate(first, 8, 100)));
        // Equal-frequency on the sample it was estimated from: each bin holds an eighth of it.
        var counts = new int[8];
        foreach (var s in first) counts[frozen.Bin(s) - 1]++;
        Assert.All(counts, c => Assert.InRange(c, 124, 126));

        // A stream that drifts upwards afterwards leaves the edges where they are.
        var (drifted, after) = tables.Bin("m", Uniform(5000, 60, 80, seed: 2));
        Assert.Same(frozen, after);
        Assert.Same(frozen, tables.Get("m"));
        Assert.All(drifted, c => Assert.Equal(1f, c));  // every drifted score is above the frozen top edge
        Assert.Equal((float)frozen.Coherence(30), tables.Bin("m", [30.0]).Coherence[0]);
        // Another model has its own table.
        Assert.Null(tables.Get("other"));
    }

    [Fact]
    public void A_table_read_back_from_a_snapshot_is_adopted_as_frozen()
    {
        var tables = new CoherenceTables(sampleSize: 50, bins: 4, scoreScale: 1);
        tables.Bin("m", Uniform(10, 0, 1, seed: 3));
        var stored = new CoherenceBins([0, 0.2, 0.5, 0.9, 1], scoreScale: 1, sampleCount: 100_000, version: 3);
        tables.Adopt("m", stored);
        Assert.Same(stored, tables.Get("m"));
        var (c, used) = tables.Bin("m", [0.1, 0.3, 0.6, 0.95]);
        Assert.Same(stored, used);
        Assert.Equal([0f, 1 / 3f, 2 / 3f, 1f], c);
    }

    [Fact]
    public void Agreement_goes_onto_the_score_scale_keeping_its_order()
    {
        var tables = new CoherenceTables(scoreScale: 100);
        Assert.Equal(0, tables.AgreementScore(-1));
        Assert.Equal(50, tables.AgreementScore(0));
        Assert.Equal(100, tables.AgreementScore(1));
        Assert.Equal(65, tables.AgreementScore(0.3), 9);
        Assert.Throws<ArgumentException>(() => tables.AgreementScore(double.NaN));
        Assert.Throws<ArgumentException>(() => new CoherenceTables(sampleSize: 0));
        Assert.Throws<ArgumentException>(() => new CoherenceTables(bins: 1));
        Assert.Throws<ArgumentException>(() => new CoherenceTables(scoreScale: 0));
    }
}

/// <summary>
/// The scorer pool of a node: its scorers bin raw scores by one shared table per model, so after the first
/// N scores (spread over the pool) every scorer gives the same score the same coherence, and each model's
/// trainer gets its own kind's condition.
/// </summary>
public sealed class ScorerPoolTests : IDisposable
{
    private readonly ActorSystem system = ActorSystem.Create("scorers", ConfigurationFactory.ParseString("""
        akka.loglevel = WARNING
        akka.coordinated-shutdown.exit-clr = off
        """));

    public void Dispose() => system.Terminate().Wait(TimeSpan.FromSeconds(20));

    /// <summary>What the trainers get, and from which scorer.</summary>
    sealed class Trainers : ReceiveActor
    {
        public Trainers(ConcurrentQueue<(TrainPairs Batch, string Scorer)> got) => Receive<TrainPairs>(m => got.Enqueue((m, Sender.Path.Name)));
    }

    static PairToScore Pair(string id, string[] models, double? score, float? coherence = null, string? caption = null, int? label = 1) =>
        new(id, models, label, coherence, score, new byte[784], caption);

    [Fact]
    public async Task The_pools_scorers_freeze_one_table_per_model_and_then_agree()
    {
        const int batches = 10, perBatch = 32, n = batches * perBatch;
        var catalog = CaptionTestKit.Mixed;
        var tables = new CoherenceTables(sampleSize: n, bins: 8, scoreScale: 100);
        var got = new ConcurrentQueue<(TrainPairs Batch, string Scorer)>();
        var trainers = system.ActorOf(Props.Create(() => new Trainers(got)), "trainers");
        var services = new ScorerServices(catalog, tables, () => null, () => null);
        var pool = system.ActorOf(ScorerActor.PropsFor(services, trainers).WithRouter(new RoundRobinPool(2)), "scorers");
        string[] cls = [CaptionTestKit.ClassModel];

        // The first N scores, spread over both scorers, skewed so that equal-width bins would not be equal-frequency.
        var rng = new Random(4);
        var first = Enumerable.Range(0, n).Select(_ => 100 * Math.Pow(rng.NextDouble(), 3)).ToArray();
        for (int b = 0; b < batches; b++)
            pool.Tell(new ScorePairs(b, trainers, Enumerable.Range(0, perBatch).Select(i => Pair($"s{b}-{i}", cls, first[b * perBatch + i])).ToArray()));
        await WaitUntilAsync(() => got.Count == batches, TimeSpan.FromSeconds(20), () => $"{batches} batches scored (have {got.Count})");
        var frozen = tables.Get(CaptionTestKit.ClassModel);
        Assert.NotNull(frozen);
        Assert.Equal(1, frozen.Version);
        Assert.True(frozen.SameMeaning(CoherenceBins.Estimate(first, 8, 100)), "the table is not the estimate from the first N scores of the pool");
        Assert.Equal(2, got.Select(g => g.Scorer).Distinct().Count());
        Assert.All(got, g => Assert.NotNull(g.Batch.Bins));

        // After: the same probe scores, six times round the pool, come back the same from both scorers.
        got.Clear();
        // Spread like the stream (four scores a bin), so the probe shows every bin.
        var probe = Enumerable.Range(0, perBatch).Select(i => 100 * Math.Pow((i + 0.5) / perBatch, 3)).ToArray();
        for (int r = 0; r < 6; r++)
            pool.Tell(new ScorePairs(100 + r, trainers, probe.Select((s, i) => Pair($"p{r}-{i}", cls, s)).ToArray()));
        await WaitUntilAsync(() => got.Count == 6, TimeSpan.FromSeconds(20), () => $"6 probe batches (have {got.Count})");
        Assert.Equal(2, got.Select(g => g.Scorer).Distinct().Count());
        var expected = probe.Select(s => (float)frozen.Coherence(s)).ToArray();
        foreach (var (batch, _) in got)
        {
            Assert.Equal(expected, batch.Pairs.Select(p => p.Coherence));
            Assert.True(frozen.SameMeaning(batch.Bins!));
        }
        Assert.Equal(8, expected.Distinct().Count());  // the probe spans every bin
        Assert.Same(frozen, tables.Get(CaptionTestKit.ClassModel));
    }

    [Fact]
    public async Task Each_model_gets_its_kinds_condition_and_coherence_from_the_right_source()
    {
        var tables = new CoherenceTables(sampleSize: 4, bins: 4, scoreScale: 1);
        var got = new ConcurrentQueue<(TrainPairs Batch, string Scorer)>();
        var trainers = system.ActorOf(Props.Create(() => new Trainers(got)), "trainers");
        var scorer = system.ActorOf(ScorerActor.PropsFor(new ScorerServices(CaptionTestKit.Mixed, tables, () => null, () => null), trainers), "scorer");
        string[] both = [CaptionTestKit.ClassModel, CaptionTestKit.TextModel];
        scorer.Tell(new ScorePairs(1, trainers,
        [
            Pair("given", both, score: null, coherence: 0.25f, caption: "a coat"),
            Pair("unscored", both, score: null, caption: "a dress"),
            Pair("text-only", [CaptionTestKit.TextModel], score: null, coherence: 0.5f, caption: "boots", label: null),
        ]));
        await WaitUntilAsync(() => got.Count == 2, TimeSpan.FromSeconds(20), () => $"2 model batches (have {got.Count})");
        var byModel = got.ToDictionary(g => g.Batch.ModelId, g => g.Batch);

        var forClass = byModel[CaptionTestKit.ClassModel];
        Assert.Equal(["given", "unscored"], forClass.Pairs.Select(p => p.Id));
        Assert.All(forClass.Pairs, p => Assert.Null(p.Caption));        // a class trainer needs no caption
        Assert.All(forClass.Pairs, p => Assert.Equal((int?)1, p.Label));
        Assert.Equal([0.25f, 1f], forClass.Pairs.Select(p => p.Coherence));  // given; no coherence model: 1
        Assert.Null(forClass.Bins);                                       // no pair came from a score

        var forText = byModel[CaptionTestKit.TextModel];
        Assert.Equal(["given", "unscored", "text-only"], forText.Pairs.Select(p => p.Id));
        Assert.Equal(["a coat", "a dress", "boots"], forText.Pairs.Select(p => p.Caption));
        Assert.Equal([(int?)1, 1, null], forText.Pairs.Select(p => p.Label));
        Assert.Equal([0.25f, 1f, 0.5f], forText.Pairs.Select(p => p.Coherence));  // no agreement model: 1
    }
}
