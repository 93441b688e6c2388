using System.Reflection;
using System.Text.RegularExpressions;
using CadStream.Ingress;
using CadStream.Serving;
using CadStream.Snapshots;
using CadStream.Snapshots.Redis;
using CadStream.Tests.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace CadStream.Tests.Docs;

/// <summary>docs/interfaces.md says what the code does: each table against the code behind it.</summary>
public sealed class InterfacesDocTests
{
    /// <summary>Every Prometheus collector the CadStream assemblies define, from their static fields.</summary>
    public static IReadOnlyList<Collector> DefinedMetrics()
    {
        var assemblies = Directory.EnumerateFiles(AppContext.BaseDirectory, "CadStream.*.dll")
            .Where(f => !Path.GetFileName(f).StartsWith("CadStream.Tests", StringComparison.Ordinal))
            .Append(Path.Combine(AppContext.BaseDirectory, "cadstream.dll"))
            .Select(f => Assembly.Load(AssemblyName.GetAssemblyName(f)));
        return assemblies.SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic))
            .Where(f => typeof(Collector).IsAssignableFrom(f.FieldType))
            .Select(f => (Collector)f.GetValue(null)!)
            .ToList();
    }

    static string TypeOf(Collector c) => c switch
    {
        Counter => "counter",
        Gauge => "gauge",
        Histogram => "histogram",
        _ => c.GetType().Name,
    };

    [Fact]
    public void Each_metric_is_defined_once_with_the_documented_type_and_labels()
    {
        var defined = DefinedMetrics();
        var documented = InterfacesDoc.Metrics();
        Assert.True(documented.Count >= 15, $"the metrics table has {documented.Count} rows");
        // One definition per name: two stages sharing a name would give one series two meanings.
        var twice = defined.GroupBy(c => c.Name).Where(g => g.Count() > 1).Select(g => g.Key).ToArray();
        Assert.True(twice.Length == 0, $"defined more than once: {string.Join(", ", twice)}");
        Assert.Equal(documented.Select(m => m.Name).Order(), defined.Select(c => c.Name).Order());
        foreach (var m in documented)
        {
            var c = defined.Single(x => x.Name == m.Name);
            Assert.Equal(m.Type, TypeOf(c));
            Assert.Equal(m.Labels, c.LabelNames);
        }
    }

    [Fact]
    public async Task The_http_table_lists_exactly_the_routes_a_serving_node_maps()
    {
        var documented = InterfacesDoc.Table("HTTP").Select(r => InterfacesDoc.Code(r[0]).Single()).Order().ToArray();
        var root = Path.Combine(Path.GetTempPath(), "cadstream-tests", "routes-" + Guid.NewGuid().ToString("N"));
        var store = new FolderSnapshotStore(root);
        await using var app = ServingApp.BuildServingApp(new ServingOptions(), store, TinySnapshots.Catalog, url: "http://127.0.0.1:0",
            configure: b => b.Logging.ClearProviders());
        try
        {
            var mapped = ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>()
                .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"])
                    .Select(method => $"{method} {e.RoutePattern.RawText}"))
                .Distinct().Order().ToArray();
            Assert.Equal(documented, mapped);
        }
        finally
        {
            await store.DisposeAsync();
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void The_redis_table_names_the_stores_keys_and_channel()
    {
        var keys = new RedisKeys("cad:");
        const string id = "{id}";
        string Placeholders(string key) => key.Replace("snapshot:7", "snapshot:{version}").Replace("part:3", "part:{i}");
        var used = new[]
        {
            keys.Latest(id), keys.Snapshot(id, 7), keys.Part(id, 7, 3), keys.Meta(id, 7), keys.Versions(id), keys.Models, keys.Channel,
        }.Select(Placeholders).Order();
        var documented = InterfacesDoc.Table("Redis (snapshot distribution)").Select(r => InterfacesDoc.Code(r[0]).Single()).Order();
        Assert.Equal(documented, used);
        Assert.Equal(keys.Snapshot(id, 7), keys.Part(id, 7, 0));  // part 0 is the snapshot key itself, as the table says
    }

    [Fact]
    public void The_kafka_names_and_headers_are_the_ones_ingress_uses()
    {
        var table = InterfacesDoc.Table("Kafka").Select(r => InterfacesDoc.Code(r[0]).Single()).ToArray();
        Assert.Equal([IngressTopics.Pairs, IngressTopics.DeadLetters, IngressTopics.ConsumerGroup], table);
        var text = InterfacesDoc.Text;
        foreach (var name in new[] { IngressTopics.ErrorHeader, IngressTopics.SourceHeader, CadStream.Records.PairRecords.ContentTypeHeader,
                     CadStream.Records.PairRecords.ProtobufContentType, "cadstream.v1.Pair", "proto/cadstream/v1/pair.proto" })
            Assert.Contains(name, text);
        Assert.True(File.Exists(Path.Combine(Repo.Root, "proto", "cadstream", "v1", "pair.proto")));
    }

    [Fact]
    public void The_environment_table_lists_every_variable_the_sources_read()
    {
        var documented = InterfacesDoc.Table("Environment").Select(r => InterfacesDoc.Code(r[0]).First())
            .Where(v => !v.Contains("__", StringComparison.Ordinal)).Order().ToArray();
        var read = Directory.EnumerateFiles(Path.Combine(Repo.Root, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .SelectMany(f => Regex.Matches(File.ReadAllText(f), "\"(CADSTREAM_[A-Z][A-Z_]*[A-Z])\"").Select(m => m.Groups[1].Value))
            .Distinct().Order().ToArray();
        Assert.Equal(documented, read);
    }

    [Fact]
    public void Sources_point_to_the_projects_own_docs_not_to_files_outside_it()
    {
        var outside = new Regex(@"CONTRACT\.md|cad-method\.md|platform[ -]notes", RegexOptions.IgnoreCase);
        var offenders = Directory.EnumerateFiles(Path.Combine(Repo.Root, "src"), "*.cs", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(Path.Combine(Repo.Root, "bench"), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .Where(f => outside.IsMatch(File.ReadAllText(f)))
            .Select(f => Path.GetRelativePath(Repo.Root, f)).ToArray();
        Assert.True(offenders.Length == 0, $"cite documents outside the repository: {string.Join(", ", offenders)}");
        // And the docs they point to exist.
        var cited = Directory.EnumerateFiles(Path.Combine(Repo.Root, "src"), "*.cs", SearchOption.AllDirectories)
            .SelectMany(f => Regex.Matches(File.ReadAllText(f), @"docs/[\w./-]+\.md").Select(m => m.Value)).Distinct();
        foreach (var doc in cited) Assert.True(File.Exists(Path.Combine(Repo.Root, doc)), $"{doc} is cited but does not exist");
    }
}
