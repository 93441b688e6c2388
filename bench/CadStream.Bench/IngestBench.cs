using System.Diagnostics;
using CadStream.Actors.Training;
using CadStream.Catalog;
using CadStream.Data;
using CadStream.Host.Cli;
using CadStream.Ingress;
using CadStream.Ingress.Kafka;
using CadStream.Ingress.Producing;
using CadStream.Scoring;

/// <summary>
/// Sustained pairs/s through Kafka consume, decoding, validation and scoring into a trainer's replay
/// buffer, next to kcat's raw consume rate of the same records from the same broker in the same run.
/// </summary>
sealed class IngestBench : ICommand
{
    public string Name => "ingest";
    public string Summary => "Pairs/s through consume, decoding, validation and scoring, against kcat's raw consume rate (the anchor).";
    public IReadOnlyList<OptionSpec> Options { get; } = [new("count", "pairs to push through", "10000", ValueName: "N")];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        Bench.Start();
        int count = a.Int("count", 10);
        using var broker = EmbeddedKafka.Start();
        var data = FashionMnist.Load(train: true);
        var stream = FashionPairStream.Create(data, LabelNoiseKind.Entropy, 0.5, null, 0);
        using (var producer = new PairProducer(broker.BootstrapServers))
            PairStreaming.Run(producer, stream.Pairs(count), count, 0);
        Console.WriteLine($"records: {count} JSON pairs (28x28 PNG, label, coherence) in cad.pairs, embedded broker {broker.BootstrapServers}");

        // kcat: raw consume of the same records, to the end of the topic.
        var kcat = new ProcessStartInfo("kcat", $"-C -b {broker.BootstrapServers} -t {IngressTopics.Pairs} -o beginning -e -q -f %o\\n")
            { RedirectStandardOutput = true, UseShellExecute = false };
        var clock = Stopwatch.StartNew();
        long kcatRecords = 0;
        using (var p = Process.Start(kcat)!)
        {
            while (p.StandardOutput.ReadLine() is not null) kcatRecords++;
            p.WaitForExit();
        }
        double kcatRate = kcatRecords / clock.Elapsed.TotalSeconds;

        // CadStream: consumer + decoder + validation + scoring (coherence as given, else binned score, else 1) into a replay buffer.
        var catalog = new ModelCatalog([Bench.Spec("fashion-cad", 32)]);
        clock.Restart();
        var sink = new ScoringSink(count);
        using var consumer = new PairConsumer(new PairConsumerOptions { BootstrapServers = broker.BootstrapServers, MaxInFlight = count + 1 },
            new PairDecoder(catalog), sink).Start();
        if (!sink.Done.Wait(TimeSpan.FromMinutes(5))) throw new TimeoutException($"only {sink.Count} of {count} pairs arrived");
        double total = clock.Elapsed.TotalSeconds;
        // Sustained rate: from the first pair on, so the consumer group join (~3 s on the mock cluster) is left out.
        double ours = (count - 1) / (total - sink.FirstAt.TotalSeconds);
        double oursWithJoin = count / total;
        consumer.StopAsync().GetAwaiter().GetResult();
        Console.WriteLine($"ingest_pairs_per_second_including_group_join {oursWithJoin:F0}");
        Console.WriteLine($"kcat_raw_records_per_second {kcatRate:F0}");
        Console.WriteLine($"ingest_pairs_per_second {ours:F0}");
        Console.WriteLine($"ingest_over_kcat {ours / kcatRate:F3}");
        return 0;
    }

    sealed class ScoringSink(int expected) : IPairSink
    {
        private readonly ReplayBuffer<ScoredPair> buffer = new(expected + 1);
        private readonly CoherenceTables tables = new();
        private int count;
        private readonly Stopwatch since = Stopwatch.StartNew();
        public TimeSpan FirstAt { get; private set; }
        public ManualResetEventSlim Done { get; } = new();
        public int Count => count;

        public ValueTask<bool> OfferAsync(IncomingPair pair, CancellationToken cancel)
        {
            float c = pair.Coherence ?? (pair.Score is double s ? tables.Bin("bench", [s]).Coherence[0] : 1f);
            buffer.Add(new ScoredPair(pair.Id, pair.Pixels, pair.Label, c, pair.Caption));
            int n = Interlocked.Increment(ref count);
            if (n == 1) FirstAt = since.Elapsed;
            if (n >= expected) Done.Set();
            return new(true);
        }
    }
}
