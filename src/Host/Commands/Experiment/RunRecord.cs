using System.Text.Json;
using CadStream.Catalog;

namespace CadStream.Host.Commands.Experiment;

// A run of hours is resumable: a model whose snapshot and record match the settings is not trained again,
// and one already evaluated on the same grid keeps its rows.

/// <summary>What makes two runs of one model the same run.</summary>
internal sealed record RunKey(string? Condition, int Limit, string Mode, long Steps, int Batch, int Width, double LearningRate, string Noise, double Beta, int Seed,
    double[] Grid, int EvalN, int EvalSteps)
{
    public bool Matches(RunKey o) => KindOf(Condition) == KindOf(o.Condition) && Limit == o.Limit && Mode == o.Mode && Steps == o.Steps && Batch == o.Batch && Width == o.Width && LearningRate == o.LearningRate
        && Noise == o.Noise && Beta == o.Beta && Seed == o.Seed;
    /// <summary>A record's condition: a kind's name, or "label" as records before the one vocabulary wrote it (none: class).</summary>
    static ConditionKind KindOf(string? condition) => condition is null ? ConditionKind.Class : ConditionKinds.Parse(condition);
    public bool SameEvaluation(RunKey o) => Grid.SequenceEqual(o.Grid) && EvalN == o.EvalN && EvalSteps == o.EvalSteps;
}

/// <summary>A model's training record next to its snapshot; its rows once evaluated.</summary>
internal sealed record RunRecord(RunKey Key, double TrainSeconds, double FinalLoss, List<Row>? Rows)
{
    /// <summary>The record when it was made with the same training settings; its rows only when also evaluated the same way.</summary>
    public static RunRecord? Read(string path, RunKey key)
    {
        if (!File.Exists(path)) return null;
        RunRecord? r;
        try { r = JsonSerializer.Deserialize<RunRecord>(File.ReadAllText(path)); }
        catch (JsonException) { return null; }
        if (r is null || !r.Key.Matches(key)) return null;
        return r.Key.SameEvaluation(key) ? r : r with { Rows = null };
    }

    public void Write(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true }));
}
