using CadStream.Actors;
using CadStream.Host.Cli;

namespace CadStream.Host.Commands;

/// <summary>
/// `cadstream certs`: the private CA of a cluster and a certificate per node, for remoting TLS with mutual
/// authentication (docs/security.md, "Cluster"). No openssl needed.
/// </summary>
public sealed class CertsCommand : ICommand
{
    /// <summary>The .pfx files' password comes from where nodes read it, never from the command line.</summary>
    public const string PasswordVariable = "CADSTREAM__Node__Tls__CertificatePassword";

    public string Name => "certs";
    public string Summary => "Make a cluster's private CA and node certificates for remoting TLS (password from " + PasswordVariable + ").";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("node", "a node's host name (or IP) as other nodes reach it; one certificate each", ValueName: "NAME", Repeatable: true),
        new("out", "folder to write ca.crt, ca.pfx and node-NAME.pfx to; an existing ca.pfx there signs the new nodes", "certs", ValueName: "DIR"),
        new("days", "validity of new certificates", "825", ValueName: "N"),
        new("ca-name", "the CA's common name", "cadstream-cluster-ca", ValueName: "NAME"),
    ];

    public int Run(ParsedArgs a, CancellationToken cancel)
    {
        var nodes = a.All("node");
        if (nodes.Count == 0) throw new UsageException("give at least one --node NAME (the host name other nodes reach it at)");
        foreach (var n in nodes)
            if (n.Length is 0 or > 253 || n.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or ':')))
                throw new UsageException($"--node '{n}' is not a host name or IP address");
        var validity = TimeSpan.FromDays(a.Int("days", 1, 3650));
        var dir = a.RequireString("out");
        var password = Environment.GetEnvironmentVariable(PasswordVariable) ?? "";
        Directory.CreateDirectory(dir);

        var caPfx = Path.Combine(dir, "ca.pfx");
        X509Certificate2Holder ca;
        if (File.Exists(caPfx))
        {
            ca = new(RemotingTls.Load(new TlsSettings { CertificatePath = caPfx, CertificatePassword = password }));
            Console.WriteLine($"signing with the existing CA {caPfx} ({ca.Certificate.Subject}, until {ca.Certificate.NotAfter:yyyy-MM-dd})");
        }
        else
        {
            ca = new(ClusterCertificates.CreateCa(a.RequireString("ca-name"), validity * 2));
            ClusterCertificates.WritePfx(ca.Certificate, caPfx, password);
            ClusterCertificates.WritePem(ca.Certificate, Path.Combine(dir, "ca.crt"));
            Console.WriteLine($"wrote {Path.Combine(dir, "ca.crt")} (Node:Tls:TrustedCa on every node) and {caPfx} (the CA's key: keep it off the nodes)");
        }
        using (ca)
            foreach (var name in nodes)
            {
                using var node = ClusterCertificates.CreateNode(ca.Certificate, name, validity);
                var path = Path.Combine(dir, $"node-{name}.pfx");
                ClusterCertificates.WritePfx(node, path, password);
                Console.WriteLine($"wrote {path} (Node:Tls:CertificatePath of {name}, until {node.NotAfter:yyyy-MM-dd}, thumbprint {node.Thumbprint})");
            }
        if (password.Length == 0) Console.WriteLine($"note: {PasswordVariable} is not set: the .pfx files have no password");
        return 0;
    }

    sealed class X509Certificate2Holder(System.Security.Cryptography.X509Certificates.X509Certificate2 certificate) : IDisposable
    {
        public System.Security.Cryptography.X509Certificates.X509Certificate2 Certificate { get; } = certificate;
        public void Dispose() => Certificate.Dispose();
    }
}
