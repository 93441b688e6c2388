namespace CadStream.Catalog;

/// <summary>
/// The names of the noise schedules (the model project's NoiseSchedule makes them): a spec is checked against
/// them without loading libtorch.
/// </summary>
public static class NoiseScheduleNames
{
    public const string Sigmoid = "sigmoid", Cosine = "cosine", Linear = "linear";

    public static IReadOnlyList<string> All { get; } = [Sigmoid, Cosine, Linear];

    /// <summary>The schedule's name as the model project knows it (trimmed, lower case).</summary>
    /// <exception cref="ArgumentException">No schedule has that name.</exception>
    public static string Normalize(string name)
    {
        var n = name.Trim().ToLowerInvariant();
        return All.Contains(n) ? n : throw new ArgumentException($"unknown schedule '{name}'; expected sigmoid, cosine or linear");
    }
}
