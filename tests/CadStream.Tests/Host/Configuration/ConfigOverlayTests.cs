using CadStream.Host.Configuration;
using CadStream.Catalog;

namespace CadStream.Tests.Host.Configuration;

/// <summary>
/// Role files over config/cadstream.json: a file names its Base, objects merge, lists and scalars
/// replace, environment variables CADSTREAM__Section__Key win.
/// </summary>
public sealed class ConfigOverlayTests : IDisposable
{
    static readonly Dictionary<string, string?> NoEnvironment = new();
    readonly string dir = Directory.CreateTempSubdirectory("cadstream-overlay-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string Write(string relative, string json)
    {
        var path = Path.Combine(dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, json);
        return path;
    }

    const string BaseJson = """
        {
          "Node": { "SystemName": "cadstream", "Roles": ["ingress", "scorer", "trainer", "serving"], "Hostname": "127.0.0.1",
                    "Port": 4053, "SeedNodes": ["akka.tcp://cadstream@a:4053", "akka.tcp://cadstream@b:4053"], "MaxInFlightPairs": 1000 },
          "Kafka": { "Bootstrap": "", "Topic": "cad.pairs" },
          "Redis": { "Endpoint": "", "Prefix": "cad:" },
          "Http": { "Url": "http://127.0.0.1:8080" },
          "Models": [
            { "Id": "m-cad", "Mode": "cad", "Width": 32 },
            { "Id": "m-base", "Mode": "baseline", "Width": 32 }
          ]
        }
        """;

    [Fact]
    public void A_role_file_replaces_lists_and_scalars_and_keeps_everything_else_of_its_base()
    {
        Write("cadstream.json", BaseJson);
        var role = Write("roles/trainer.json", """
            {
              "Base": "../cadstream.json",
              "Node": { "Roles": ["trainer"], "Hostname": "", "SeedNodes": ["akka.tcp://cadstream@seed:4053"] },
              "Kafka": { "Bootstrap": "kafka:9092" }
            }
            """);
        var s = CadStreamSettings.Load(role, NoEnvironment);

        // Lists replace: one role and one seed, not the base's entries with the first one swapped.
        Assert.Equal(["trainer"], s.Node.Roles);
        Assert.Equal(["akka.tcp://cadstream@seed:4053"], s.Node.SeedNodes);
        Assert.Equal("", s.Node.Hostname);
        Assert.Equal("kafka:9092", s.Kafka.Bootstrap);
        // Objects merge: what the role file does not name comes from the base.
        Assert.Equal(4053, s.Node.Port);
        Assert.Equal(1000, s.Node.MaxInFlightPairs);
        Assert.Equal("cad.pairs", s.Kafka.Topic);
        Assert.Equal("http://127.0.0.1:8080", s.Http.Url);
        Assert.Equal(["m-cad", "m-base"], s.Models.Select(m => m.Id));
        Assert.Equal([TrainingMode.Cad, TrainingMode.Baseline], s.Models.Select(m => m.Mode));
    }

    [Fact]
    public void A_shorter_list_of_objects_in_the_overlay_leaves_no_entries_of_the_base_behind()
    {
        Write("cadstream.json", BaseJson);
        var one = Write("one-model.json", """{ "Base": "cadstream.json", "Models": [ { "Id": "only", "Mode": "cfg" } ] }""");
        var s = CadStreamSettings.Load(one, NoEnvironment);
        var m = Assert.Single(s.Models);
        Assert.Equal("only", m.Id);
        Assert.Equal(TrainingMode.Cfg, m.Mode);
        // A replaced entry does not inherit fields of the base entry at the same index.
        Assert.Equal(new CadStream.Catalog.ModelSpec().Width, m.Width);

        var none = Write("no-seeds.json", """{ "Base": "cadstream.json", "Node": { "SeedNodes": [] } }""");
        Assert.Empty(CadStreamSettings.Load(none, NoEnvironment).Node.SeedNodes);
    }

    [Fact]
    public void Bases_chain_with_paths_relative_to_each_file()
    {
        Write("cadstream.json", BaseJson);
        Write("compose/common.json", """{ "Base": "../cadstream.json", "Node": { "Hostname": "", "Port": 4100 }, "Http": { "Url": "http://0.0.0.0:8080" } }""");
        var serving = Write("compose/serving.json", """{ "Base": "common.json", "Node": { "Roles": ["serving"], "Port": 4200 } }""");
        var s = CadStreamSettings.Load(serving, NoEnvironment);
        Assert.Equal(["serving"], s.Node.Roles);
        Assert.Equal(4200, s.Node.Port);                  // the nearest file wins
        Assert.Equal("", s.Node.Hostname);                // from the middle file
        Assert.Equal("http://0.0.0.0:8080", s.Http.Url);
        Assert.Equal(2, s.Node.SeedNodes.Length);         // from the base
        Assert.Equal(2, s.Models.Count);
    }

    [Fact]
    public void Environment_variables_win_over_every_file_and_list_entries_replace_the_list()
    {
        Write("cadstream.json", BaseJson);
        var role = Write("ingress.json", """{ "Base": "cadstream.json", "Node": { "Roles": ["ingress", "scorer"] }, "Kafka": { "Bootstrap": "kafka:9092" } }""");
        var env = new Dictionary<string, string?>
        {
            ["CADSTREAM__Kafka__Bootstrap"] = "broker-7:9092",
            ["cadstream__redis__endpoint"] = "redis:6379",            // names are case-insensitive, as in the process environment
            ["CADSTREAM__Redis__Password"] = "s3cret",
            ["CADSTREAM__Node__SeedNodes__0"] = "akka.tcp://cadstream@cadstream-ingress:4053",
            ["CADSTREAM__Models__1__Mode"] = "filtered",               // a field of an entry: the list stays
            ["CADSTREAM__Node__Hostname"] = "cadstream-ingress",
            ["OTHER__Kafka__Topic"] = "not-mine",
        };
        var s = CadStreamSettings.Load(role, env);
        Assert.Equal("broker-7:9092", s.Kafka.Bootstrap);
        Assert.Equal("redis:6379", s.Redis.Endpoint);
        Assert.Equal("s3cret", s.Redis.Password);
        Assert.Equal("cadstream-ingress", s.Node.Hostname);
        Assert.Equal(["akka.tcp://cadstream@cadstream-ingress:4053"], s.Node.SeedNodes);
        Assert.Equal(["ingress", "scorer"], s.Node.Roles);
        Assert.Equal("cad.pairs", s.Kafka.Topic);
        Assert.Equal(["m-cad", "m-base"], s.Models.Select(m => m.Id));
        Assert.Equal([TrainingMode.Cad, TrainingMode.Filtered], s.Models.Select(m => m.Mode));
        Assert.Equal(32, s.Models[1].Width);
    }

    [Fact]
    public void Without_an_environment_argument_the_process_environment_applies()
    {
        Write("cadstream.json", BaseJson);
        var role = Write("serving.json", """{ "Base": "cadstream.json", "Node": { "Roles": ["serving"] } }""");
        const string name = "CADSTREAM__Redis__Prefix";
        var before = Environment.GetEnvironmentVariable(name);
        Environment.SetEnvironmentVariable(name, "overlay-test:");
        try { Assert.Equal("overlay-test:", CadStreamSettings.Load(role).Redis.Prefix); }
        finally { Environment.SetEnvironmentVariable(name, before); }
    }

    [Fact]
    public void Missing_or_circular_bases_and_bad_files_say_which_file()
    {
        var orphan = Write("orphan.json", """{ "Base": "nowhere/cadstream.json", "Node": { "Roles": ["serving"] } }""");
        var missing = Assert.Throws<FileNotFoundException>(() => CadStreamSettings.Load(orphan, NoEnvironment));
        Assert.Contains(Path.Combine(dir, "nowhere", "cadstream.json"), missing.Message);
        Assert.Contains("the Base of", missing.Message);
        Assert.Contains(orphan, missing.Message);

        Write("a.json", """{ "Base": "b.json" }""");
        var a = Path.Combine(dir, "a.json");
        Write("b.json", """{ "Base": "a.json" }""");
        var loop = Assert.Throws<InvalidDataException>(() => CadStreamSettings.Load(a, NoEnvironment));
        Assert.Contains("a.json -> ", loop.Message);

        var notText = Write("bad-base.json", """{ "Base": 3 }""");
        Assert.Contains("Base", Assert.Throws<InvalidDataException>(() => CadStreamSettings.Load(notText, NoEnvironment)).Message);
        var broken = Write("broken.json", """{ "Node": { "Roles": ["serving"] """);
        Assert.Contains("broken.json", Assert.Throws<InvalidDataException>(() => CadStreamSettings.Load(broken, NoEnvironment)).Message);
        Assert.Throws<FileNotFoundException>(() => CadStreamSettings.Load(Path.Combine(dir, "absent.json"), NoEnvironment));
    }

    public static TheoryData<string, string[]> ShippedRoleFiles => new()
    {
        { "compose/ingress.json", ["ingress", "scorer"] },
        { "compose/trainer.json", ["trainer"] },
        { "compose/serving.json", ["serving"] },
        { "cluster/ingress.json", ["ingress", "scorer"] },
        { "cluster/trainer.json", ["trainer"] },
        { "cluster/serving.json", ["serving"] },
    };

    [Theory]
    [MemberData(nameof(ShippedRoleFiles))]
    public void Shipped_role_files_travel_with_the_executable_and_only_change_the_node(string file, string[] roles)
    {
        // The copy beside the executable (what a container or a bare-metal install runs) is the repository's file.
        var shipped = Path.Combine(AppContext.BaseDirectory, "config", file);
        Assert.True(File.Exists(shipped), $"{shipped} is not in the build output: the Host project must copy config/{file}");
        Assert.Equal(Repo.Read("config", file), File.ReadAllText(shipped));

        var s = CadStreamSettings.Load(shipped, NoEnvironment);
        var main = CadStreamSettings.Load(Path.Combine(AppContext.BaseDirectory, "config", "cadstream.json"), NoEnvironment);
        Assert.Equal(roles, s.Node.Roles);
        // The models and everything about them come from config/cadstream.json: one place for them.
        Assert.Equal(main.Models, s.Models);
        Assert.Equal(main.Kafka.Topic, s.Kafka.Topic);
        Assert.Equal(main.Scoring, s.Scoring);
        Assert.Equal(main.Serving, s.Serving);
        Assert.Equal(main.Snapshots, s.Snapshots);
        // Reachable from other machines: the node advertises its host name and listens on every interface.
        Assert.Equal("", s.Node.Hostname);
        Assert.Equal("0.0.0.0", s.Node.EffectiveBindHostname);
        Assert.StartsWith("http://0.0.0.0:", s.Http.Url);
        // No file repeats the models list: it lives in config/cadstream.json only.
        foreach (var layer in new[] { file, Path.Combine(Path.GetDirectoryName(file)!, "common.json") })
            Assert.DoesNotContain("\"Models\"", Repo.Read("config", layer));
    }
}
