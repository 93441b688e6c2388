using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Event;
using Akka.Hosting;
using CadStream.Actors;
using CadStream.Host.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;
using static CadStream.Tests.Host.Cluster.ClusterTestKit;
using AkkaCluster = Akka.Cluster.Cluster;

namespace CadStream.Tests.Host.Cluster;

/// <summary>
/// Node:Tls: nodes holding the cluster's certificate form a cluster over TLS (a self-signed certificate
/// made with openssl, shared by the nodes); a node in plaintext, or with another certificate, cannot join.
/// The nodes are actor systems with CadStream's remoting (<see cref="CadStreamCluster.WithCadStreamRemoting"/>)
/// and clustering, without the rest of a node.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class RemotingTlsTests(ITestOutputHelper output) : IDisposable
{
    private readonly string folder = TempFolder("tls");
    private readonly TestLog log = new(output);
    private readonly List<IHost> hosts = [];

    /// <summary>A self-signed certificate with its key in a .pfx, made the way an operator would.</summary>
    string Certificate(string name, string password)
    {
        var key = Path.Combine(folder, name + ".key");
        var pem = Path.Combine(folder, name + ".pem");
        var pfx = Path.Combine(folder, name + ".pfx");
        Run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", pem, "-days", "2", "-subj", $"/CN={name}");
        Run("openssl", "pkcs12", "-export", "-out", pfx, "-inkey", key, "-in", pem, "-passout", $"pass:{password}");
        return pfx;
    }

    static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)}: {err.Result}");
    }

    sealed class LogListener : ReceiveActor
    {
        public LogListener(ConcurrentQueue<string> lines, string name) => Receive<LogEvent>(e => lines.Enqueue($"[{name}] {e.LogLevel()}: {e.Message}"));
    }

    /// <summary>An actor system with CadStream's remoting and clustering; a seed (no seeds) joins itself.</summary>
    async Task<ActorSystem> StartAsync(string name, TlsSettings tls, string? seed, ConcurrentQueue<string> lines)
    {
        var node = new NodeSettings { Hostname = "127.0.0.1", Port = 0, Roles = ["scorer"], Tls = tls, SeedNodes = seed is null ? [] : [seed] };
        var host = new HostBuilder().ConfigureServices(services => services.AddAkka("tls-cluster", builder =>
        {
            builder.AddHocon("""
                akka.loglevel = WARNING
                akka.cluster.seed-node-timeout = 2s
                akka.coordinated-shutdown.exit-clr = off
                """, HoconAddMode.Prepend);
            builder.WithCadStreamRemoting(node).WithClustering(new ClusterOptions { Roles = node.Roles, SeedNodes = node.SeedAddresses() });
            builder.WithActors((system, _) =>
            {
                var listener = system.ActorOf(Props.Create(() => new LogListener(lines, name)));
                system.EventStream.Subscribe(listener, typeof(Warning));
                system.EventStream.Subscribe(listener, typeof(Error));
            });
        })).Build();
        hosts.Add(host);
        await host.StartAsync();
        var system = host.Services.GetRequiredService<ActorSystem>();
        if (seed is null) AkkaCluster.Get(system).Join(AkkaCluster.Get(system).SelfAddress);
        log.Write($"{name} at {AkkaCluster.Get(system).SelfAddress}{(tls.Enabled ? " (TLS)" : "")}");
        return system;
    }

    static int Up(ActorSystem system) => AkkaCluster.Get(system).State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up);

    [Fact]
    public async Task Nodes_with_the_cluster_certificate_join_over_tls_and_others_cannot()
    {
        var clock = Stopwatch.StartNew();
        var clusterTls = new TlsSettings { CertificatePath = Certificate("cadstream-cluster", "pfx-pw"), CertificatePassword = "pfx-pw" };
        var lines = new ConcurrentQueue<string>();

        var seed = await StartAsync("seed", clusterTls, null, lines);
        var seedAddress = AkkaCluster.Get(seed).SelfAddress;
        var member = await StartAsync("member", clusterTls, seedAddress.ToString(), lines);
        await WaitUntilAsync(() => Up(seed) == 2 && Up(member) == 2, TimeSpan.FromSeconds(30), () => $"two members up (seed sees {Up(seed)}, member {Up(member)})");

        // The port speaks TLS and shows the cluster's certificate.
        string? shown = null;
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(seedAddress.Host!, seedAddress.Port!.Value);
            using var ssl = new SslStream(tcp.GetStream(), false, (_, certificate, _, _) => { shown = certificate?.GetCertHashString(); return true; });
            try { await ssl.AuthenticateAsClientAsync("seed").WaitAsync(TimeSpan.FromSeconds(10)); }
            catch (Exception e) { log.Write($"probe handshake ended: {e.GetType().Name} (the seed wants a client certificate)"); }
        }
        Assert.NotNull(shown);
        using (var expected = RemotingTls.Load(clusterTls)) Assert.Equal(expected.Thumbprint, shown);

        // In plaintext, knocking at the same port (its seed address is read as akka.tcp://): the node never joins.
        var plain = await StartAsync("plaintext", new TlsSettings(), seedAddress.ToString(), lines);
        // With a certificate of its own (self-signed too, but not the cluster's): refused.
        var otherTls = new TlsSettings { CertificatePath = Certificate("someone-else", "other-pw"), CertificatePassword = "other-pw" };
        var other = await StartAsync("other-cert", otherTls, seedAddress.ToString(), lines);
        // Each is turned away at the handshake: the plaintext node's association fails, the seed refuses the other certificate.
        await WaitUntilAsync(() => lines.Any(l => l.StartsWith("[plaintext]", StringComparison.Ordinal) && l.Contains("Association", StringComparison.Ordinal))
                                   && lines.Any(l => l.StartsWith("[seed]", StringComparison.Ordinal) && l.Contains("refused a peer certificate (CN=someone-else", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30), () => $"both intruders to be turned away ({lines.Count} warnings so far)");
        foreach (var line in lines) log.Write(line);
        Assert.Equal(2, AkkaCluster.Get(seed).State.Members.Count);
        Assert.Equal(2, Up(member));
        Assert.NotEqual(Akka.Cluster.MemberStatus.Up, AkkaCluster.Get(plain).SelfMember.Status);
        Assert.NotEqual(Akka.Cluster.MemberStatus.Up, AkkaCluster.Get(other).SelfMember.Status);
        log.Write($"done in {clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>`cadstream certs` into a folder: the CA's ca.crt and one .pfx per node (password from the environment variable nodes read).</summary>
    string Certs(string dir, params string[] nodes)
    {
        var args = new List<string> { "certs", "--out", Path.Combine(folder, dir) };
        foreach (var n in nodes) { args.Add("--node"); args.Add(n); }
        Assert.Equal(0, CadStream.Host.Program.Run([.. args], CancellationToken.None));
        return Path.Combine(folder, dir);
    }

    [Fact]
    public async Task Only_nodes_with_a_certificate_of_the_clusters_CA_join()
    {
        Environment.SetEnvironmentVariable(CadStream.Host.Commands.CertsCommand.PasswordVariable, null);
        var ours = Certs("ours", "seed", "member");
        var theirs = Certs("theirs", "intruder");  // another CA: a stand-in for a public one, which chains fine elsewhere
        TlsSettings Node(string dir, string name) => new()
        {
            CertificatePath = Path.Combine(dir, $"node-{name}.pfx"), TrustedCa = Path.Combine(ours, "ca.crt"),
        };
        var lines = new ConcurrentQueue<string>();
        var seed = await StartAsync("seed", Node(ours, "seed"), null, lines);
        var seedAddress = AkkaCluster.Get(seed).SelfAddress.ToString();
        var member = await StartAsync("member", Node(ours, "member"), seedAddress, lines);
        await WaitUntilAsync(() => Up(seed) == 2 && Up(member) == 2, TimeSpan.FromSeconds(30), () => $"two members up (seed sees {Up(seed)})");

        // Trusting our CA in its own settings does not help a node whose certificate another CA signed.
        var intruder = await StartAsync("intruder", Node(theirs, "intruder"), seedAddress, lines);
        await WaitUntilAsync(() => lines.Any(l => l.StartsWith("[seed]", StringComparison.Ordinal) && l.Contains("refused a peer certificate (CN=intruder", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30), () => $"the intruder to be turned away ({lines.Count} warnings so far)");
        Assert.Equal(2, AkkaCluster.Get(seed).State.Members.Count);
        Assert.NotEqual(Akka.Cluster.MemberStatus.Up, AkkaCluster.Get(intruder).SelfMember.Status);
    }

    [Fact]
    public void Remoting_beyond_loopback_needs_tls_or_the_explicit_option()
    {
        var loopback = new NodeSettings();
        Assert.Null(loopback.RemotingProblem());
        var open = new NodeSettings { Hostname = "", BindHostname = "0.0.0.0" };
        var problem = open.RemotingProblem(() => "node-1");
        Assert.NotNull(problem);
        Assert.Contains("cadstream certs", problem);
        Assert.Contains("Node:AllowInsecureRemoting", problem);
        Assert.Null((open with { AllowInsecureRemoting = true }).RemotingProblem(() => "node-1"));
        var tls = new TlsSettings { CertificatePath = "node.pfx", TrustedCa = "ca.crt" };
        Assert.Null((open with { Tls = tls }).RemotingProblem(() => "node-1"));
        Assert.NotNull((open with { Tls = tls with { ValidateCertificateChain = false } }).RemotingProblem(() => "node-1"));

        // `cadstream node` refuses it as bad usage (exit 2, one line); the shipped loopback settings start as they are.
        var shipped = CadStreamSettings.Load(null) with { Http = new HttpSettings { Url = "http://0.0.0.0:8080", ApiKeys = ["k"] } };
        var args = new CadStream.Host.Cli.ParsedArgs([], new CadStream.Host.Commands.NodeCommand().Options);
        var refused = Assert.Throws<CadStream.Host.Cli.UsageException>(() => CadStream.Host.Commands.NodeOptions.Apply(args, shipped with { Node = open }));
        Assert.Contains("cadstream certs", refused.Message);
        Assert.Equal("127.0.0.1", CadStream.Host.Commands.NodeOptions.Apply(args, shipped).Node.Hostname);
    }

    [Fact]
    public void Node_Tls_comes_from_the_configuration_and_a_wrong_password_is_a_clear_error()
    {
        var pfx = Certificate("config-check", "right-pw");
        var file = Path.Combine(folder, "cadstream.json");
        File.WriteAllText(file, $$"""{ "Node": { "Tls": { "CertificatePath": "{{pfx}}", "CertificatePassword": "right-pw" } } }""");
        var tls = CadStreamSettings.Load(file).Node.Tls;
        Assert.True(tls.Enabled);
        Assert.True(tls.ValidateCertificateChain);
        using (var certificate = RemotingTls.Load(tls)) Assert.True(certificate.HasPrivateKey);
        Assert.NotNull(RemotingTls.SslOptionsFor(tls).CustomValidator);

        var wrong = Assert.Throws<InvalidDataException>(() => RemotingTls.Load(tls with { CertificatePassword = "wrong-pw" }));
        Assert.Contains("Node:Tls:CertificatePassword", wrong.Message);
        Assert.DoesNotContain("wrong-pw", wrong.Message);
        var missing = Assert.Throws<InvalidDataException>(() => RemotingTls.Load(tls with { CertificatePath = Path.Combine(folder, "none.pfx") }));
        Assert.Contains("does not exist", missing.Message);
        Assert.False(new TlsSettings().Enabled);

        // A seed list written for one transport is read in this node's: switching TLS on changes no seed list.
        string[] seeds = ["akka.tcp://cadstream@cadstream-1:4053", "akka.ssl.tcp://cadstream@cadstream-2:4053"];
        Assert.Equal(["akka.ssl.tcp://cadstream@cadstream-1:4053", "akka.ssl.tcp://cadstream@cadstream-2:4053"],
            new NodeSettings { SeedNodes = seeds, Tls = tls }.SeedAddresses());
        Assert.Equal(["akka.tcp://cadstream@cadstream-1:4053", "akka.tcp://cadstream@cadstream-2:4053"],
            new NodeSettings { SeedNodes = seeds }.SeedAddresses());
    }

    public void Dispose()
    {
        foreach (var host in Enumerable.Reverse(hosts))
        {
            try { host.StopAsync().Wait(TimeSpan.FromSeconds(20)); } catch (Exception) { /* stopping anyway */ }
            host.Dispose();
        }
        Directory.Delete(folder, recursive: true);
    }
}
