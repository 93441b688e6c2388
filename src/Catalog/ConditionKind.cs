using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CadStream.Catalog;

/// <summary>
/// What a model is conditioned on, in the one vocabulary of the outside contract: <c>class</c> (a label),
/// <c>text</c> (a caption) and <c>segmap</c> (a semantic map; a name only, not available yet). Configuration,
/// snapshots, the command line and <c>/v1/models</c> all say it with <see cref="ConditionKinds.Name"/>.
/// Each stage that differs by kind keeps one unit per kind in its <c>Conditions/</c> folder, chosen in one
/// place (docs/architecture.md, "Adding a condition kind").
/// </summary>
[JsonConverter(typeof(ConditionKindJsonConverter))]
[TypeConverter(typeof(ConditionKindTypeConverter))]
public enum ConditionKind
{
    /// <summary>A class label: an index into the model's class names.</summary>
    Class,
    /// <summary>A caption, read as token states of a frozen text encoder.</summary>
    Text,
    /// <summary>A semantic map (one class per pixel). Named in the vocabulary; no stage implements it yet.</summary>
    Segmap,
}

/// <summary>The vocabulary of <see cref="ConditionKind"/>: its names, the command line's aliases, and which kinds are available.</summary>
public static class ConditionKinds
{
    /// <summary>Every kind, in the vocabulary's order.</summary>
    public static IReadOnlyList<ConditionKind> All { get; } = [ConditionKind.Class, ConditionKind.Text, ConditionKind.Segmap];

    /// <summary>The kinds the stages implement.</summary>
    public static IReadOnlyList<ConditionKind> Available { get; } = [ConditionKind.Class, ConditionKind.Text];

    /// <summary>The vocabulary as help texts and errors write it: "class|text|segmap".</summary>
    public static string Vocabulary { get; } = string.Join('|', All.Select(Name));

    /// <summary>The kind's name in the vocabulary: "class", "text" or "segmap".</summary>
    public static string Name(this ConditionKind kind) => kind switch
    {
        ConditionKind.Class => "class",
        ConditionKind.Text => "text",
        ConditionKind.Segmap => "segmap",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a condition kind"),
    };

    /// <summary>
    /// A kind by its name, case and surrounding space ignored; the command line's older words stay accepted as
    /// aliases: <c>label</c> for class, <c>caption</c> for text.
    /// </summary>
    /// <exception cref="ArgumentException">Not a name of the vocabulary; the message lists it.</exception>
    public static ConditionKind Parse(string name) => TryParse(name, out var kind)
        ? kind
        : throw new ArgumentException($"unknown condition kind '{name}'; expected {string.Join(", ", All.Select(Name))} (aliases: label for class, caption for text)");

    public static bool TryParse(string? name, out ConditionKind kind)
    {
        switch (name?.Trim().ToLowerInvariant())
        {
            case "class" or "label": kind = ConditionKind.Class; return true;
            case "text" or "caption": kind = ConditionKind.Text; return true;
            case "segmap": kind = ConditionKind.Segmap; return true;
            default: kind = default; return false;
        }
    }

    public static bool IsAvailable(this ConditionKind kind) => Available.Contains(kind);

    /// <summary>The one line every stage refuses a kind it does not implement with.</summary>
    public static string NotAvailable(ConditionKind kind) => $"condition kind {kind.Name()} is not available yet";

    /// <summary>The kind, when the stages implement it.</summary>
    /// <exception cref="NotSupportedException">They do not (<see cref="NotAvailable"/>).</exception>
    public static ConditionKind RequireAvailable(this ConditionKind kind) =>
        kind.IsAvailable() ? kind : throw new NotSupportedException(NotAvailable(kind));
}

/// <summary>Writes a kind as its name ("class"), and reads a name or an alias: configuration files and snapshots keep the strings.</summary>
public sealed class ConditionKindJsonConverter : JsonConverter<ConditionKind>
{
    public override ConditionKind Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String) throw new JsonException($"a condition kind is a string ({ConditionKinds.Vocabulary})");
        var name = reader.GetString();
        return ConditionKinds.TryParse(name, out var kind) ? kind : throw new JsonException($"unknown condition kind '{name}'; expected {ConditionKinds.Vocabulary}");
    }

    public override void Write(Utf8JsonWriter writer, ConditionKind value, JsonSerializerOptions options) => writer.WriteStringValue(value.Name());
}

/// <summary>The configuration binder's reading of a kind (<c>"Kind": "text"</c>), with the vocabulary's aliases and message.</summary>
public sealed class ConditionKindTypeConverter : TypeConverter
{
    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) => sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string s ? ConditionKinds.Parse(s) : base.ConvertFrom(context, culture, value);

    public override bool CanConvertTo(ITypeDescriptorContext? context, Type? destinationType) => destinationType == typeof(string) || base.CanConvertTo(context, destinationType);

    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        destinationType == typeof(string) && value is ConditionKind kind ? kind.Name() : base.ConvertTo(context, culture, value, destinationType);
}
