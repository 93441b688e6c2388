using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Event;
using Akka.Remote.Hosting;
using Akka.Remote.Transport.DotNetty;

namespace CadStream.Actors;

/// <summary>
/// TLS between the nodes of a cluster (config section "Node:Tls"): off while <see cref="CertificatePath"/>
/// is empty. Every node of a TLS cluster needs it on; a node without it cannot reach the others.
/// </summary>
public sealed record TlsSettings
{
    /// <summary>A PKCS#12 file (.pfx) with the node's certificate and private key; empty = remoting in plaintext.</summary>
    public string CertificatePath { get; init; } = "";
    /// <summary>The password of the .pfx file (never shown).</summary>
    public string CertificatePassword { get; init; } = "";
    /// <summary>
    /// False accepts any certificate: traffic is encrypted but peers are not authenticated (development only; a node
    /// beyond loopback then needs <c>Node:AllowInsecureRemoting</c>).
    /// </summary>
    public bool ValidateCertificateChain { get; init; } = true;
    /// <summary>
    /// A PEM or DER file of the cluster's private CA (<c>cadstream certs</c> writes <c>ca.crt</c>): a peer whose certificate
    /// chains to it is a member. Only this CA: never the machine's public roots.
    /// </summary>
    public string TrustedCa { get; init; } = "";
    /// <summary>SHA-1 thumbprints (hex) of peer certificates trusted one by one (this node's own always is).</summary>
    public string[] TrustedThumbprints { get; init; } = [];

    public bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath);
}

/// <summary>Maps <see cref="TlsSettings"/> to Akka.Remote's DotNetty TLS: mutual authentication, the certificate from the file.</summary>
public static class RemotingTls
{
    /// <summary>The TLS options of remoting; throws <see cref="InvalidDataException"/> naming the setting when the certificate cannot be used.</summary>
    public static SslOptions SslOptionsFor(TlsSettings tls)
    {
        var certificate = Load(tls);
        return new SslOptions
        {
            X509Certificate = certificate,
            SuppressValidation = !tls.ValidateCertificateChain,
            // Both ends show a certificate: a node that cannot prove it holds the key cannot join, nor even send.
            RequireMutualAuthentication = true,
            // Nodes are reached by addresses that certificates rarely name (container host names, IPs).
            ValidateCertificateHostname = false,
            CustomValidator = tls.ValidateCertificateChain ? TrustedOnly(certificate, LoadCa(tls), tls.TrustedThumbprints) : null,
        };
    }

    /// <summary>Reads the .pfx; the node's certificate must come with its private key.</summary>
    public static X509Certificate2 Load(TlsSettings tls)
    {
        var path = tls.CertificatePath.Trim();
        if (!File.Exists(path)) throw new InvalidDataException($"Node:Tls:CertificatePath '{path}' does not exist");
        X509Certificate2 certificate;
        try { certificate = X509CertificateLoader.LoadPkcs12FromFile(path, tls.CertificatePassword); }
        catch (CryptographicException e)
        {
            throw new InvalidDataException($"Node:Tls:CertificatePath '{path}' cannot be read as a PKCS#12 (.pfx) file with the given Node:Tls:CertificatePassword: {e.Message}", e);
        }
        if (!certificate.HasPrivateKey)
            throw new InvalidDataException($"Node:Tls:CertificatePath '{path}' holds no private key (a node must prove it owns its certificate)");
        return certificate;
    }

    /// <summary>The CA of <see cref="TlsSettings.TrustedCa"/>, or none.</summary>
    public static X509Certificate2? LoadCa(TlsSettings tls)
    {
        var path = tls.TrustedCa.Trim();
        if (path.Length == 0) return null;
        if (!File.Exists(path)) throw new InvalidDataException($"Node:Tls:TrustedCa '{path}' does not exist");
        try { return X509CertificateLoader.LoadCertificateFromFile(path); }
        catch (CryptographicException e) { throw new InvalidDataException($"Node:Tls:TrustedCa '{path}' is not a PEM or DER certificate: {e.Message}", e); }
    }

    /// <summary>
    /// A peer is accepted when its certificate is this node's own or one of <paramref name="thumbprints"/>, or chains to
    /// <paramref name="ca"/> alone (a custom root: the machine's trust store plays no part, so a certificate from a public
    /// CA is refused). Host names are not checked: nodes are reached by addresses certificates rarely name.
    /// </summary>
    public static CertificateValidationCallback TrustedOnly(X509Certificate2 own, X509Certificate2? ca, IEnumerable<string> thumbprints)
    {
        var trusted = new HashSet<string>(thumbprints.Select(t => t.Replace(":", "").Replace(" ", "").Trim()), StringComparer.OrdinalIgnoreCase) { own.Thumbprint };
        return (peer, chain, _, errors, log) =>
        {
            if (peer is null) return false;
            using var certificate = new X509Certificate2(peer);
            if (trusted.Contains(certificate.Thumbprint)) return true;
            if (ca is not null)
            {
                using var build = new X509Chain();
                build.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                build.ChainPolicy.CustomTrustStore.Add(ca);
                build.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                if (chain is not null) foreach (var e in chain.ChainElements) build.ChainPolicy.ExtraStore.Add(e.Certificate);
                if (build.Build(certificate)) return true;
            }
            log.Warning("remoting TLS: refused a peer certificate ({0}, {1}): it neither chains to Node:Tls:TrustedCa nor is in Node:Tls:TrustedThumbprints",
                certificate.Subject, errors);
            return false;
        };
    }
}