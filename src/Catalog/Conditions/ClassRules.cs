namespace CadStream.Catalog.Conditions;

/// <summary>A class model learns labels: it needs its class names.</summary>
public sealed class ClassRules : IConditionRules
{
    public static readonly ClassRules Instance = new();

    public ConditionKind Kind => ConditionKind.Class;
    public bool ReadsText => false;

    public void Validate(ModelSpec spec, string where)
    {
        if (spec.NumClasses < 1) throw new ArgumentException($"{where}: a class model needs class names (Classes, or a Dataset that has them)");
    }

    // A label is an index into the classes: another list would make every label mean another class.
    public string? Incompatibility(ModelSpec snapshot, ModelSpec configured) => snapshot.Classes.SequenceEqual(configured.Classes)
        ? null
        : $"has classes [{string.Join(", ", snapshot.Classes)}], the catalog says [{string.Join(", ", configured.Classes)}]";
}
