using CadStream.Host.Cli;

// Benchmarks print their figures; they are not tests. Each figure comes with an anchor measured in the
// same run (a plain matmul, kcat, the offline loop, one client), so runs on noisy machines compare as
// ratios. `smoke` is no bench: it calls every torch op on the chosen device (bench/gpu/run.sh's first
// stage). Same command-line parser and conventions as cadstream:
//   dotnet bench/CadStream.Bench/bin/Release/net10.0/cadstream-bench.dll BENCH [--option value] (--help for each)
ICommand[] benches = [new TrainBench(), new SmokeBench(), new StreamingTrainerBench(), new DemoTrainBench(), new IngestBench(), new ServingBench(), new TextBench(), new SoakBench(), new QualityCostBench(), new ResizePicture(), new RgbWebDataset(), new DecodeBench(), new ProduceFromBench()];
return CliRunner.Run("cadstream-bench", benches, args, CancellationToken.None);
