using CadStream.Catalog;
using CadStream.Records;

namespace CadStream.Ingress.Conditions;

/// <summary>A class pair's <c>label</c> (a class index) or <c>labelName</c> (a class name), valid for every class model it goes to.</summary>
public sealed class ClassConditionField : IConditionField
{
    public ConditionKind Kind => ConditionKind.Class;

    public bool Carries(PairRecord record) => record.Label is not null || record.LabelName is not null;

    public string? RecordProblem(PairRecord record) => null;

    public string Missing => "missing label: class models need 'label' (a class index or name)";

    public string Needs => "class models need 'label'";

    public string? Check(PairRecord record, IReadOnlyList<ModelSpec> models)
    {
        var classes = models[0].Classes;
        if (Label(record, classes) is (null, var problem)) return problem;
        foreach (var m in models.Skip(1))
            if (!m.Classes.SequenceEqual(classes))
                return $"models {models[0].Id} and {m.Id} have different classes; name the model";
        return null;
    }

    public IncomingPair Apply(PairRecord record, IReadOnlyList<ModelSpec> models, IncomingPair pair) =>
        pair with { Label = Label(record, models[0].Classes).Index };

    /// <summary>The record's class index among <paramref name="classes"/>, or why it is none of them.</summary>
    static (int? Index, string? Problem) Label(PairRecord record, string[] classes)
    {
        if (record.Label is int index)
            return index < 0 || index >= classes.Length ? (null, $"label {index} outside 0..{classes.Length - 1}") : (index, null);
        try { return (ClassNames.Parse(record.LabelName!, classes), null); }
        catch (ArgumentException) { return (null, $"unknown label '{Shorten(record.LabelName!)}'"); }
    }

    static string Shorten(string s) => s.Length <= 64 ? s : s[..61] + "...";
}
