using CadStream.Catalog;
using CadStream.Records;

namespace CadStream.Ingress.Conditions;

/// <summary>
/// One condition kind's field of a record (<see cref="PairRecord"/>: <c>label</c>/<c>labelName</c>, <c>caption</c>):
/// whether a record carries it, its checks, the reasons a record without it or with a bad one is rejected, and its
/// value on the <see cref="IncomingPair"/>. One implementation per kind, chosen by <see cref="ConditionFields"/>.
/// </summary>
public interface IConditionField
{
    ConditionKind Kind { get; }

    /// <summary>Whether the record carries this kind's condition (it then goes to the models of this kind).</summary>
    bool Carries(PairRecord record);

    /// <summary>Why the record's condition is unfit whatever models the pair goes to, or null: a record is valid or not on its own.</summary>
    string? RecordProblem(PairRecord record);

    /// <summary>The reason a record naming a model of this kind is rejected when it lacks the condition.</summary>
    string Missing { get; }

    /// <summary>What a model of this kind needs, as the reason for a record without any condition lists it.</summary>
    string Needs { get; }

    /// <summary>Why the condition does not fit the models of this kind the pair goes to, or null.</summary>
    string? Check(PairRecord record, IReadOnlyList<ModelSpec> models);

    /// <summary>The pair with this kind's value (after <see cref="Check"/> passed).</summary>
    IncomingPair Apply(PairRecord record, IReadOnlyList<ModelSpec> models, IncomingPair pair);
}

/// <summary>The fields of the kinds ingress takes, in the vocabulary's order, and the one place a kind picks its field.</summary>
public sealed class ConditionFields(PairDecoderOptions options)
{
    public IReadOnlyList<IConditionField> All { get; } = [new ClassConditionField(), new TextConditionField(options)];

    public IConditionField For(ConditionKind kind) =>
        All.FirstOrDefault(f => f.Kind == kind) ?? throw new NotSupportedException(ConditionKinds.NotAvailable(kind));
}
