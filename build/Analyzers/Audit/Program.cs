// Lists the public TorchSharp members that make a Scalar and let it go: a body that converts a number to a
// Scalar (or calls one of TorchSharp's Scalar factories) and keeps the result in neither a using declaration
// nor a field, or that calls such a member. The Scalar analyzer reports calls to them (CAD002).
//
// With a checkout of TorchSharp's source (the dotnet/TorchSharp repository at the tag of the version built with):
//   dotnet run --project build/Analyzers/Audit -- TORCHSHARP/src/TorchSharp build/Analyzers/TorchSharpScalarMakers.txt
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: ScalarAudit TORCHSHARP_SOURCE_DIR OUTPUT_FILE");
    return 2;
}
var parse = new CSharpParseOptions(LanguageVersion.Latest, preprocessorSymbols: ["NET6_0_OR_GREATER", "NET8_0_OR_GREATER", "NETCOREAPP"]);
var trees = Directory.EnumerateFiles(args[0], "*.cs", SearchOption.AllDirectories)
    .Where(f => !f.Contains("/TorchVision/") && !f.EndsWith("netstandard.cs") && !f.Contains("/obj/"))
    .Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), parse, f)).ToList();
// The running framework's assemblies are enough to bind tensor code (the few files that need SkiaSharp or protobuf bind partly).
var refs = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator).Select(p => MetadataReference.CreateFromFile(p));
var comp = CSharpCompilation.Create("torchsharp-audit", trees, refs, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true));
var inSource = trees.ToHashSet();

bool IsScalar(ITypeSymbol? t) => t?.ToDisplayString() == "TorchSharp.Scalar";
bool InTorchSharp(ISymbol s) => s.Locations.Any(l => l.IsInSource && inSource.Contains(l.SourceTree!));

// The same test as the analyzer's: a Scalar lands in a using declaration or a field, or is returned (the caller's then).
bool HeldOrReturned(IOperation op)
{
    var p = op.Parent;
    while (p is IConversionOperation { OperatorMethod: null } or IParenthesizedOperation) p = p.Parent;
    if (p is IReturnOperation or IFieldInitializerOperation) return true;
    if (p is ISimpleAssignmentOperation { Target: IFieldReferenceOperation }) return true;
    if (p is IVariableInitializerOperation { Parent.Parent: { } declaration })
        return (declaration.Parent is IVariableDeclarationGroupOperation g ? g.Parent : declaration.Parent) is IUsingDeclarationOperation or IUsingOperation;
    return false;
}

IEnumerable<IMethodSymbol> Callees(IOperation o) => o switch
{
    IInvocationOperation i => [i.TargetMethod],
    IBinaryOperation { OperatorMethod: { } m } => [m],
    IUnaryOperation { OperatorMethod: { } m } => [m],
    ICompoundAssignmentOperation { OperatorMethod: { } m } => [m],
    IObjectCreationOperation { Constructor: { } c } => [c],
    IPropertyReferenceOperation p => new[] { p.Property.GetMethod, p.Property.SetMethod }.OfType<IMethodSymbol>(),
    IConversionOperation { OperatorMethod: { } m } c when !IsScalar(c.Type) => [m],
    _ => [],
};

var direct = new Dictionary<IMethodSymbol, string>(SymbolEqualityComparer.Default);
var calls = new Dictionary<IMethodSymbol, HashSet<IMethodSymbol>>(SymbolEqualityComparer.Default);
foreach (var tree in trees)
{
    var model = comp.GetSemanticModel(tree);
    foreach (var node in tree.GetRoot().DescendantNodes())
    {
        var (body, symbol) = node switch
        {
            BaseMethodDeclarationSyntax m => ((SyntaxNode?)m.Body ?? m.ExpressionBody, model.GetDeclaredSymbol(m) as IMethodSymbol),
            AccessorDeclarationSyntax a => ((SyntaxNode?)a.Body ?? a.ExpressionBody, model.GetDeclaredSymbol(a) as IMethodSymbol),
            BasePropertyDeclarationSyntax p when p is PropertyDeclarationSyntax { ExpressionBody: { } e } => (e, (model.GetDeclaredSymbol(p) as IPropertySymbol)?.GetMethod),
            IndexerDeclarationSyntax { ExpressionBody: { } e } ix => (e, (model.GetDeclaredSymbol(ix) as IPropertySymbol)?.GetMethod),
            _ => ((SyntaxNode?)null, (IMethodSymbol?)null),
        };
        if (body is null || symbol is null || model.GetOperation(body) is not { } root) continue;
        var key = symbol.OriginalDefinition;
        if (!calls.TryGetValue(key, out var callees)) calls[key] = callees = new(SymbolEqualityComparer.Default);
        foreach (var o in root.DescendantsAndSelf())
        {
            bool makes = o is IConversionOperation { OperatorMethod: not null } c && IsScalar(c.Type)
                      || o is IInvocationOperation inv && IsScalar(inv.Type) && InTorchSharp(inv.TargetMethod);
            if (makes && !IsScalar(symbol.ReturnType) && !HeldOrReturned(o) && !direct.ContainsKey(key))
            {
                var at = o.Syntax.GetLocation().GetLineSpan();
                direct[key] = $"{Path.GetFileName(at.Path)}:{at.StartLinePosition.Line + 1} `{string.Join(" ", o.Syntax.ToString().Split((char[])['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries))}`";
            }
            foreach (var callee in Callees(o)) if (InTorchSharp(callee)) callees.Add(callee.OriginalDefinition);
        }
    }
}

// A member that calls one that makes a Scalar and lets it go does so too; the reason is the first maker found.
var flagged = new Dictionary<IMethodSymbol, string>(direct, SymbolEqualityComparer.Default);
for (bool changed = true; changed;)
{
    changed = false;
    foreach (var (member, callees) in calls)
        if (!flagged.ContainsKey(member) && !IsScalar(member.ReturnType) && callees.FirstOrDefault(flagged.ContainsKey) is { } hit)
        {
            flagged[member] = flagged[hit];
            changed = true;
        }
}

bool Public(ISymbol s) => s.DeclaredAccessibility == Accessibility.Public && (s.ContainingType is null || Public(s.ContainingType));
var lines = flagged.Where(kv => Public(kv.Key) && (kv.Key.AssociatedSymbol is null || Public(kv.Key.AssociatedSymbol)))
    .Select(kv => $"{kv.Key.GetDocumentationCommentId()}\t{kv.Value}").OrderBy(l => l, StringComparer.Ordinal).ToList();
File.WriteAllLines(args[1], new[]
{
    "# Public TorchSharp members that make a Scalar and let it go (TorchSharp 0.107.0), with the first place in its",
    "# source where one is made. Generated by build/Analyzers/Audit; read by the Scalar analyzer (CAD002).",
}.Concat(lines));
Console.WriteLine($"{direct.Count} members make a Scalar and let it go themselves, {flagged.Count} with their callers; {lines.Count} public, written to {args[1]}");
return 0;
