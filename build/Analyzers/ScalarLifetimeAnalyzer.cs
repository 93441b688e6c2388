using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace CadStream.Analyzers;

/// <summary>
/// TorchSharp 0.107 passes a Scalar's raw handle to libtorch and leaves freeing it to the Scalar's finalizer.
/// Once the handle is read nothing references the object, so the GC may finalize it, and free the native
/// value, while the native call still reads it ("Expected false to be true ... toFloat" from c10/core/Scalar.h).
/// Tensors made outside a dispose scope have the same lifetime. This reports, as errors:
/// <list type="bullet">
/// <item>CAD001: a number converted to a Scalar or Tensor by TorchSharp's conversion operators (<c>x.mul_(0.9)</c>) whose
/// result is not held;</item>
/// <item>CAD002: a call to a TorchSharp member that makes a Scalar inside and lets it go (<c>a + b</c> is
/// <c>add(b, 1)</c>), listed in TorchSharpScalarMakers.txt by build/Analyzers/Audit;</item>
/// <item>CAD003: a Scalar returned by a call (<c>v.ToScalar()</c>) that is not held.</item>
/// </list>
/// Held means kept in a using declaration or statement (alive until the end of its block) or in a field.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ScalarLifetimeAnalyzer : DiagnosticAnalyzer
{
    public const string ConversionId = "CAD001", MakerId = "CAD002", UnheldId = "CAD003";
    const string Category = "Reliability";
    const string Fix = "hold it (a static readonly field, or 'using var s = v.ToScalar()') or use the TensorMath helpers (Plus, Times, ...)";

    static readonly DiagnosticDescriptor Conversion = new(ConversionId, "A number becomes a TorchSharp Scalar or Tensor that nothing holds",
        "'{0}' becomes a TorchSharp {1} that nothing holds: its finalizer may free it while the native call reads it; " + Fix,
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    static readonly DiagnosticDescriptor Maker = new(MakerId, "A TorchSharp member makes a Scalar and lets it go",
        "{0} makes a Scalar inside that nothing holds during the native call ({1} in TorchSharp 0.107); use a TensorMath helper or an overload that takes a held Scalar",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    static readonly DiagnosticDescriptor Unheld = new(UnheldId, "A Scalar is not held",
        "The Scalar from '{0}' is not held: its finalizer may free it while a native call reads it; " + Fix,
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    static readonly Lazy<Dictionary<string, string>> Makers = new(LoadMakers);

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Conversion, Maker, Unheld);

    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            var scalar = start.Compilation.GetTypeByMetadataName("TorchSharp.Scalar");
            var tensor = start.Compilation.GetTypeByMetadataName("TorchSharp.torch+Tensor");
            if (scalar is null || tensor is null) return;  // a project without TorchSharp
            start.RegisterOperationAction(c => OnConversion(c, scalar, tensor), OperationKind.Conversion);
            start.RegisterOperationAction(c => OnInvocation(c, scalar), OperationKind.Invocation);
            start.RegisterOperationAction(c => Check(c, c.Operation switch
            {
                IBinaryOperation b => b.OperatorMethod,
                IUnaryOperation u => u.OperatorMethod,
                ICompoundAssignmentOperation a => a.OperatorMethod,
                IIncrementOrDecrementOperation i => i.OperatorMethod,
                IObjectCreationOperation o => o.Constructor,
                _ => null,
            }), OperationKind.Binary, OperationKind.Unary, OperationKind.CompoundAssignment, OperationKind.Increment, OperationKind.Decrement,
                OperationKind.ObjectCreation);
            start.RegisterOperationAction(c =>
            {
                var property = ((IPropertyReferenceOperation)c.Operation).Property;
                if (!Check(c, property.GetMethod)) Check(c, property.SetMethod);
            }, OperationKind.PropertyReference);
        });
    }

    static void OnConversion(OperationAnalysisContext c, INamedTypeSymbol scalar, INamedTypeSymbol tensor)
    {
        var conversion = (IConversionOperation)c.Operation;
        if (conversion.OperatorMethod is not { } method) return;
        bool toScalar = SymbolEqualityComparer.Default.Equals(conversion.Type, scalar);
        bool toTensor = SymbolEqualityComparer.Default.Equals(conversion.Type, tensor);
        if ((toScalar || toTensor) && SymbolEqualityComparer.Default.Equals(method.ContainingType, conversion.Type))
        {
            if (!IsHeld(conversion))
                c.ReportDiagnostic(Diagnostic.Create(Conversion, conversion.Operand.Syntax.GetLocation(), conversion.Operand.Syntax.ToString(), toScalar ? "Scalar" : "Tensor"));
            return;
        }
        Check(c, method);  // (double)tensor and the like
    }

    static void OnInvocation(OperationAnalysisContext c, INamedTypeSymbol scalar)
    {
        var invocation = (IInvocationOperation)c.Operation;
        var method = invocation.TargetMethod;
        if (Check(c, method)) return;
        // Module.call runs the receiver's forward: a TorchSharp module's forward may make Scalars (BatchNorm's does).
        if (method.Name == "call" && invocation.Instance?.Type is INamedTypeSymbol receiver && IsTorchSharp(method))
            for (var type = receiver; type is not null; type = type.BaseType)
            {
                IMethodSymbol? forward = null;
                foreach (var m in type.GetMembers("forward"))
                    if (m is IMethodSymbol { IsAbstract: false } f && f.Parameters.Length == method.Parameters.Length) forward = f;
                if (forward is null) continue;
                Check(c, forward, $"{Display(method)} (its {Display(forward)})");
                break;
            }
        if (SymbolEqualityComparer.Default.Equals(method.ReturnType, scalar) && !IsHeld(invocation))
            c.ReportDiagnostic(Diagnostic.Create(Unheld, invocation.Syntax.GetLocation(), invocation.Syntax.ToString()));
    }

    /// <summary>Reports <paramref name="method"/> when it is a listed maker; true when it was.</summary>
    static bool Check(OperationAnalysisContext c, IMethodSymbol? method, string? what = null)
    {
        if (method is null || !IsTorchSharp(method)) return false;
        var id = method.OriginalDefinition.GetDocumentationCommentId();
        if (id is null || !Makers.Value.TryGetValue(id, out var where)) return false;
        c.ReportDiagnostic(Diagnostic.Create(Maker, c.Operation.Syntax.GetLocation(), what ?? Display(method), where));
        return true;
    }

    static bool IsTorchSharp(IMethodSymbol method) => method.ContainingAssembly?.Name == "TorchSharp";

    static string Display(IMethodSymbol method) => method.ToDisplayString(SymbolDisplayFormat.CSharpShortErrorMessageFormat);

    /// <summary>Kept in a using declaration or statement, a field, or returned to the caller (whose call is then checked).</summary>
    static bool IsHeld(IOperation value)
    {
        var parent = value.Parent;
        while (parent is IParenthesizedOperation or IConversionOperation { OperatorMethod: null }) parent = parent.Parent;
        switch (parent)
        {
            case IReturnOperation:
            case IFieldInitializerOperation:
            case ISimpleAssignmentOperation { Target: IFieldReferenceOperation }:
                return true;
            case IVariableInitializerOperation { Parent.Parent: { } declaration }:
                var owner = declaration.Parent is IVariableDeclarationGroupOperation group ? group.Parent : declaration.Parent;
                return owner is IUsingDeclarationOperation or IUsingOperation;
            default:
                return false;
        }
    }

    static Dictionary<string, string> LoadMakers()
    {
        var makers = new Dictionary<string, string>(StringComparer.Ordinal);
        using var stream = typeof(ScalarLifetimeAnalyzer).Assembly.GetManifestResourceStream("TorchSharpScalarMakers.txt")
            ?? throw new InvalidOperationException("TorchSharpScalarMakers.txt is not embedded");
        using var reader = new StreamReader(stream);
        for (var line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            if (line.Length == 0 || line[0] == '#') continue;
            int tab = line.IndexOf('\t');
            if (tab > 0) makers[line.Substring(0, tab)] = line.Substring(tab + 1);
        }
        return makers;
    }
}
