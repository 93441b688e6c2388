namespace CadStream.Catalog.Conditions;

/// <summary>
/// What the model description says about one condition kind: which of <see cref="ModelSpec"/>'s settings it
/// needs and whether its models read captions through the frozen text encoder. One implementation per kind,
/// chosen by <see cref="ConditionRules.Of"/>.
/// </summary>
public interface IConditionRules
{
    ConditionKind Kind { get; }

    /// <summary>
    /// Whether a model of this kind reads captions through the frozen text encoder: its snapshots name the encoder
    /// they learnt from, and a node runs an encoder only when one of its models does.
    /// </summary>
    bool ReadsText { get; }

    /// <summary>Throws <see cref="ArgumentException"/> saying which of the kind's settings is wrong, starting with <paramref name="where"/>.</summary>
    void Validate(ModelSpec spec, string where);

    /// <summary>
    /// Why a snapshot's spec cannot be served as the configured one, as far as the kind's settings go (a class model's
    /// classes), or null. Said after "snapshot for model X".
    /// </summary>
    string? Incompatibility(ModelSpec snapshot, ModelSpec configured);
}

/// <summary>The one place the model description picks a kind's rules.</summary>
public static class ConditionRules
{
    public static IConditionRules Of(ConditionKind kind) => kind switch
    {
        ConditionKind.Class => ClassRules.Instance,
        ConditionKind.Text => TextRules.Instance,
        _ => new UnavailableRules(kind),
    };

    /// <summary>The rules of the spec's kind.</summary>
    public static IConditionRules Rules(this ModelSpec spec) => Of(spec.Kind);

    /// <summary>A kind the stages do not implement: named in the vocabulary, refused wherever a model of it is configured.</summary>
    sealed class UnavailableRules(ConditionKind kind) : IConditionRules
    {
        public ConditionKind Kind => kind;
        public bool ReadsText => false;
        public void Validate(ModelSpec spec, string where) => throw new ArgumentException($"{where}: {ConditionKinds.NotAvailable(kind)}");
        public string? Incompatibility(ModelSpec snapshot, ModelSpec configured) => ConditionKinds.NotAvailable(kind);
    }
}
