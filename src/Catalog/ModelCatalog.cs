namespace CadStream.Catalog;

/// <summary>The configured models by id; what ingress validates against, trainers start and serving lists.</summary>
public sealed class ModelCatalog
{
    private readonly Dictionary<string, ModelSpec> byId;

    public ModelCatalog(IEnumerable<ModelSpec> models)
    {
        byId = new Dictionary<string, ModelSpec>(StringComparer.Ordinal);
        foreach (var m in models)
        {
            if (string.IsNullOrWhiteSpace(m.Id)) throw new ArgumentException("a model needs an id");
            m.Validate();
            if (!byId.TryAdd(m.Id, m)) throw new ArgumentException($"model id '{m.Id}' is configured twice");
        }
    }

    public IReadOnlyCollection<ModelSpec> All => byId.Values;

    public bool TryGet(string id, out ModelSpec spec) => byId.TryGetValue(id, out spec!);

    /// <summary>The models a pair goes to: the named one, or every model of that condition kind.</summary>
    public IEnumerable<ModelSpec> For(string? modelId, ConditionKind kind) =>
        modelId is null ? byId.Values.Where(m => m.Kind == kind) : byId.TryGetValue(modelId, out var m) ? [m] : [];
}
