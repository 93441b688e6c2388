using CadStream.Catalog.Text;
using CadStream.Runtime;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace CadStream.Actors.Training;

/// <summary>What a trainer entity needs from its node besides its model and the store.</summary>
/// <param name="PairsStored">Optional: told, after each stored snapshot, the ids of the pairs trained since the previous one
/// (a lineage trace for audits and tests; the worker keeps the ids only when this is set).</param>
/// <param name="TextEncoder">The node's frozen text encoder (loaded on first use), for the models that read captions; null: none (they cannot train here).</param>
public sealed record TrainerServices(Device Device, int Threads, NodeHealth Health, ILoggerFactory Loggers,
    Action<PairsStored>? PairsStored = null, Func<ITextEncoder>? TextEncoder = null);

/// <summary>The ids of the pairs a stored snapshot of <paramref name="Model"/> newly reflects.</summary>
public sealed record PairsStored(string Model, long Version, IReadOnlyList<string> PairIds);
