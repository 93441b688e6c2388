using System.Text.Json;
using CadStream.Catalog;
using CadStream.Host.Configuration;
using CadStream.Tests.Host;

namespace CadStream.Tests.Catalog;

/// <summary>
/// The condition kind is one vocabulary everywhere (class, text, segmap; label and caption as the command line's
/// aliases), travels as its name in configuration and snapshots, and a kind not implemented yet is refused in one line.
/// </summary>
public sealed class ConditionKindTests
{
    [Theory]
    [InlineData("class", ConditionKind.Class)]
    [InlineData("label", ConditionKind.Class)]
    [InlineData(" Text ", ConditionKind.Text)]
    [InlineData("caption", ConditionKind.Text)]
    [InlineData("SEGMAP", ConditionKind.Segmap)]
    public void Names_and_aliases_parse_to_the_kind(string name, ConditionKind kind) => Assert.Equal(kind, ConditionKinds.Parse(name));

    [Fact]
    public void An_unknown_name_is_refused_with_the_vocabulary()
    {
        var e = Assert.Throws<ArgumentException>(() => ConditionKinds.Parse("words"));
        Assert.Equal("unknown condition kind 'words'; expected class, text, segmap (aliases: label for class, caption for text)", e.Message);
        Assert.Equal("class|text|segmap", ConditionKinds.Vocabulary);
        Assert.Equal(["class", "text", "segmap"], ConditionKinds.All.Select(k => k.Name()));
    }

    [Fact]
    public void A_spec_keeps_its_kind_as_a_string_in_json_and_reads_older_snapshots_strings()
    {
        var spec = new ModelSpec { Id = "t", Kind = ConditionKind.Text };
        var json = JsonSerializer.Serialize(spec);
        Assert.Contains("\"Kind\":\"text\"", json);
        Assert.Equal(ConditionKind.Text, JsonSerializer.Deserialize<ModelSpec>(json)!.Kind);
        // A snapshot header written before the kind was a type holds the same string.
        Assert.Equal(ConditionKind.Class, JsonSerializer.Deserialize<ModelSpec>("""{"Id": "old", "Kind": "class"}""")!.Kind);
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<ModelSpec>("""{"Kind": "words"}"""));
    }

    [Fact]
    public void Configuration_names_kinds_in_the_vocabulary_and_a_segmap_model_is_a_validation_error()
    {
        var dir = Directory.CreateTempSubdirectory("cadstream-kinds-").FullName;
        try
        {
            string Config(string kind)
            {
                var path = Path.Combine(dir, $"{kind}.json");
                File.WriteAllText(path, $$"""{ "Models": [ { "Id": "m", "Kind": "{{kind}}", "Dataset": "fashion-mnist" } ] }""");
                return path;
            }
            var none = new Dictionary<string, string?>();
            Assert.Equal(ConditionKind.Text, CadStreamSettings.Load(Config("text"), none).Catalog().All.Single().Kind);
            Assert.Equal(ConditionKind.Text, CadStreamSettings.Load(Config("caption"), none).Catalog().All.Single().Kind);
            var segmap = Assert.Throws<ArgumentException>(() => CadStreamSettings.Load(Config("segmap"), none).Catalog());
            Assert.Equal("model m: condition kind segmap is not available yet", segmap.Message);
            var unknown = Assert.Throws<InvalidDataException>(() => CadStreamSettings.Load(Config("words"), none));
            Assert.Contains("unknown condition kind 'words'", unknown.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData("train", "--steps", "1")]
    [InlineData("experiment", "--steps", "1")]
    [InlineData("produce", "--count", "1")]
    public void Segmap_on_the_command_line_is_one_usage_line(string command, string option, string value)
    {
        var r = CliRunner.Run([command, "--condition", "segmap", option, value]);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal([$"cadstream {command}: condition kind segmap is not available yet"], r.StderrLines);
    }
}
