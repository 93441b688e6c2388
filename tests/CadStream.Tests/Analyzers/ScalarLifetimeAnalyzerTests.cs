using System.Collections.Immutable;
using CadStream.Analyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace CadStream.Tests.Analyzers;

/// <summary>
/// The build's Scalar analyzer on snippets: what makes a TorchSharp Scalar (or tensor) that nothing holds is an
/// error, what holds it is not. Each snippet is compiled against the TorchSharp this project builds with.
/// </summary>
public class ScalarLifetimeAnalyzerTests
{
    const string Usings = """
        using System;
        using TorchSharp;
        using TorchSharp.Modules;
        using static TorchSharp.torch;

        """;

    static readonly Lazy<MetadataReference[]> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Append(typeof(TorchSharp.Scalar).Assembly.Location).Distinct()
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToArray());

    /// <summary>The analyzer's diagnostics for a method body, as (id, text of the flagged code).</summary>
    static async Task<List<(string Id, string Code)>> Analyze(string body, string members = "", bool torch = true)
    {
        var source = Usings + $$"""
            static class Snippet
            {
            {{members}}
                static void Run(Tensor a, Tensor b)
                {
            {{body}}
                }
            }
            """;
        var tree = CSharpSyntaxTree.ParseText(source);
        var references = torch ? References.Value : References.Value.Where(r => !r.Display!.EndsWith("TorchSharp.dll")).ToArray();
        var compilation = CSharpCompilation.Create("snippet", [tree], references, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        if (torch)
        {
            var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            Assert.True(errors.Count == 0, "the snippet does not compile: " + string.Join("; ", errors));
        }
        var diagnostics = await compilation.WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new ScalarLifetimeAnalyzer())).GetAnalyzerDiagnosticsAsync();
        return diagnostics.OrderBy(d => d.Location.SourceSpan.Start)
            .Select(d => (d.Id, tree.GetText().ToString(d.Location.SourceSpan))).ToList();
    }

    [Theory]
    [InlineData("a.mul_(0.9);", "0.9")]
    [InlineData("a.clamp_(-1, 1);", "-1", "1")]
    [InlineData("using var t = full(3, 1.5, ScalarType.Float32);", "1.5")]
    [InlineData("a.lerp_(b, 0.5);", "0.5")]
    [InlineData("using var c = a.mul((Scalar)0.5);", "0.5")]
    public async Task A_number_turned_into_a_scalar_or_tensor_on_the_way_is_an_error(string body, params string[] flagged)
    {
        var found = await Analyze(body);
        Assert.Equal(flagged.Select(f => (ScalarLifetimeAnalyzer.ConversionId, f)), found);
    }

    [Theory]
    [InlineData("using var c = a + b;", "a + b")]
    [InlineData("using var c = a * 0.5;", "a * 0.5")]
    [InlineData("using var c = 1 - a;", "1 - a")]
    [InlineData("using var c = a / 2;", "a / 2")]
    [InlineData("using var c = a.add(b);", "a.add(b)")]
    [InlineData("a.add_(b);", "a.add_(b)")]
    [InlineData("using var c = a.square();", "a.square()")]
    [InlineData("using var c = a.addcdiv(a, b);", "a.addcdiv(a, b)")]
    [InlineData("var c = a; c += b;", "c += b")]
    public async Task A_torchsharp_member_that_makes_a_scalar_inside_is_an_error(string body, string flagged)
    {
        var found = await Analyze(body);
        Assert.Equal([(ScalarLifetimeAnalyzer.MakerId, flagged)], found);
    }

    [Fact]
    public async Task Calls_that_run_a_scalar_making_module_or_optimizer_are_errors()
    {
        var found = await Analyze("""
            using var bn = nn.BatchNorm2d(4);
            using var y = bn.call(a);
            using var adam = optim.Adam(bn.parameters(), 1e-3);
            adam.step();
            using var arange5 = arange(5, ScalarType.Float32);
            """);
        Assert.Equal([
            (ScalarLifetimeAnalyzer.MakerId, "bn.call(a)"),
            (ScalarLifetimeAnalyzer.MakerId, "adam.step()"),
            (ScalarLifetimeAnalyzer.MakerId, "arange(5, ScalarType.Float32)"),
            (ScalarLifetimeAnalyzer.ConversionId, "5"),
        ], found);
    }

    [Theory]
    [InlineData("var s = 0.5.ToScalar(); a.mul_(s);", "0.5.ToScalar()")]
    [InlineData("a.mul_(0.5.ToScalar());", "0.5.ToScalar()")]
    public async Task A_scalar_from_a_call_that_nothing_holds_is_an_error(string body, string flagged)
    {
        var found = await Analyze(body);
        Assert.Equal([(ScalarLifetimeAnalyzer.UnheldId, flagged)], found);
    }

    [Fact]
    public async Task Held_scalars_and_operations_that_make_none_pass()
    {
        var found = await Analyze("""
                using var s = 0.9.ToScalar();
                using (var t = 2.ToScalar()) a.mul_(t);
                a.mul_(s).add_(b, One);
                using var c = a.add(b, One);
                using var d = a - b;
                using var e = a * b;
                using var f = a / b;
                using var g = a.mul(Half);
                using var h = full(3, Half, ScalarType.Float32);
                using var i = arange(Zero, s, One, ScalarType.Float32);
                using Scalar j = 0.25;
            """, members: """
                static readonly Scalar Zero = 0.ToScalar(), One = 1.ToScalar();
                static readonly Scalar Half = 0.5;
                static Scalar Make(double v) => v.ToScalar();
            """);
        Assert.Empty(found);
    }

    [Fact]
    public async Task A_project_without_torchsharp_gets_no_diagnostics()
    {
        var found = await Analyze("", torch: false);
        Assert.Empty(found);
    }
}
