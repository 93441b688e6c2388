using System.Diagnostics;
using CadStream.Data;
using CadStream.Data.Examples;
using CadStream.Host.Cli;
using CadStream.Host.Commands;
using CadStream.Ingress.Kafka;
using CadStream.Records;
using CadStream.Sources;

/// <summary>
/// `cadstream produce --from` on JPEG WebDataset shards against kcat -P producing the same records, already
/// encoded as JSON lines, to the same embedded broker in the same run: the ratio is produce's records/s over
/// kcat's (goal >= 0.8). produce runs in this process (its reading, JSON encoding and sending; not the .NET
/// start-up), kcat as a process; the reading stages are then timed alone and with the encoding, to say where time goes.
/// </summary>
sealed class ProduceFromBench : ICommand
{
    public string Name => "produce-from";
    public string Summary => "produce --from on JPEG WebDataset shards against kcat -P sending the same records pre-encoded (the anchor), in records/s.";
    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("count", "JPEG records", "10000", ValueName: "N"),
        new("size", "side of the JPEGs in pixels", "64", ValueName: "PX"),
        new("rounds", "alternating rounds of each (the best of each is compared)", "3", ValueName: "N"),
    ];

    const int Partitions = 4;

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        int count = a.Int("count", 100, 10_000_000), size = a.Int("size", 16, 512), rounds = a.Int("rounds", 1, 20);
        var folder = Directory.CreateTempSubdirectory("cadstream-produce-bench-").FullName;
        try
        {
            new TintedGarmentWriter(FashionMnist.Load(train: true), size).Write(folder, count, 0.3, 0, 1000);
            long shardBytes = Directory.GetFiles(folder, "*.tar").Sum(f => new FileInfo(f).Length);
            // The anchor's input: the very records produce --from sends, encoded once, one JSON object per line.
            var shards = Path.Combine(folder, "*.tar");
            var lines = Path.Combine(folder, "records.jsonl");
            using (var w = File.Create(lines))
                foreach (var r in SourceReading.Read(SourceFiles.Expand([shards]), new FieldOptions(), new SourceReport()))
                {
                    w.Write(PairRecords.ToJson(r));
                    w.WriteByte((byte)'\n');
                }
            Console.WriteLine($"# {count} JPEG records ({size} px) in {shardBytes / 1e6:F1} MB of shards; as JSON lines {new FileInfo(lines).Length / 1e6:F1} MB; " +
                              $"{Environment.ProcessorCount} cores");
            using var broker = EmbeddedKafka.Start();
            double bestProduce = 0, bestKcat = 0;
            for (int round = 1; round <= rounds; round++)
            {
                // Alternating, each to a topic of its own, so that a busy moment of the machine falls on both alike.
                broker.CreateTopic($"bench-kcat-{round}", Partitions);
                broker.CreateTopic($"bench-produce-{round}", Partitions);
                double kcat = Kcat(broker.BootstrapServers, $"bench-kcat-{round}", lines, count);
                double produce = Produce(broker.BootstrapServers, $"bench-produce-{round}", shards, count);
                Console.WriteLine($"round {round}: kcat -P {kcat:F0} records/s, produce --from {produce:F0} records/s, ratio {produce / kcat:F2}");
                bestKcat = Math.Max(bestKcat, kcat);
                bestProduce = Math.Max(bestProduce, produce);
            }
            Console.WriteLine($"best: kcat -P {bestKcat:F0} records/s, produce --from {bestProduce:F0} records/s, ratio {bestProduce / bestKcat:F2} (goal >= 0.80)");
            // Where produce's time goes: the reading stages alone, then with the JSON encoding (no Kafka).
            var clock = Stopwatch.StartNew();
            long n = SourceReading.Read(SourceFiles.Expand([shards]), new FieldOptions(), new SourceReport()).LongCount();
            double readOnly = n / clock.Elapsed.TotalSeconds;
            clock.Restart();
            long encoded = SourceReading.Read(SourceFiles.Expand([shards]), new FieldOptions(), new SourceReport()).Sum(r => (long)PairRecords.ToJson(r).Length);
            double readEncode = n / clock.Elapsed.TotalSeconds;
            Console.WriteLine($"stages without Kafka: reading {readOnly:F0} records/s, reading + JSON encoding {readEncode:F0} records/s ({encoded / 1e6:F1} MB)");
            return 0;
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    static double Kcat(string bootstrap, string topic, string lines, int count)
    {
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(new ProcessStartInfo("kcat", $"-P -b {bootstrap} -t {topic} -l {lines}") { UseShellExecute = false, RedirectStandardError = true })!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"kcat -P failed ({p.ExitCode}): {err}");
        double rate = count / clock.Elapsed.TotalSeconds;
        Check(bootstrap, topic, count);
        return rate;
    }

    static double Produce(string bootstrap, string topic, string shards, int count)
    {
        var clock = Stopwatch.StartNew();
        var stdout = Console.Out;
        Console.SetOut(TextWriter.Null);
        int code;
        try { code = CliRunner.Run("cadstream", [new ProduceCommand()], ["produce", "--from", shards, "--bootstrap", bootstrap, "--topic", topic], CancellationToken.None); }
        finally { Console.SetOut(stdout); }
        if (code != 0) throw new InvalidOperationException($"produce --from exited {code}");
        double rate = count / clock.Elapsed.TotalSeconds;
        Check(bootstrap, topic, count);
        return rate;
    }

    /// <summary>
    /// Both sides must have delivered every record, or their rates mean nothing. Counted by the partitions' end
    /// offsets: the embedded broker drops old records past a few MiB per partition, so reading them back undercounts.
    /// </summary>
    static void Check(string bootstrap, string topic, int count)
    {
        using var consumer = new Confluent.Kafka.ConsumerBuilder<byte[], byte[]>(new Confluent.Kafka.ConsumerConfig
            { BootstrapServers = bootstrap, GroupId = "cadstream-bench-check" }).Build();
        long n = 0;
        for (int partition = 0; partition < Partitions; partition++)
        {
            n += consumer.QueryWatermarkOffsets(new Confluent.Kafka.TopicPartition(topic, partition), TimeSpan.FromSeconds(10)).High.Value;
        }
        if (n != count) throw new InvalidOperationException($"{topic} received {n} records, not {count}");
    }
}
