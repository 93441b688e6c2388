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
    /// Peers must present a certificate that chains to a root this machine trusts, or this node's own
    /// certificate (one certificate shared by the cluster, self-signed say). False accepts any certificate:
    /// traffic is encrypted but peers are not authenticated (for development only).
    /// </summary>
    public bool ValidateCertificateChain { get; init; } = true;

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
            CustomValidator = tls.ValidateCertificateChain ? TrustedChainOrSameCertificate(certificate) : null,
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

    /// <summary>
    /// A peer is accepted when its certificate chains to a trusted root (host names are not checked), or
    /// when it is this node's own certificate: a cluster may share one self-signed certificate without
    /// putting it in every machine's trust store.
    /// </summary>
    public static CertificateValidationCallback TrustedChainOrSameCertificate(X509Certificate2 own) =>
        (peer, _, _, errors, log) =>
        {
            if (peer is null) return false;
            if ((errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None) return true;
            if (string.Equals(peer.Thumbprint, own.Thumbprint, StringComparison.OrdinalIgnoreCase)) return true;
            log.Warning("remoting TLS: refused a peer certificate ({0}, {1}): it neither chains to a trusted root nor is this cluster's certificate",
                peer.Subject, errors);
            return false;
        };
}
