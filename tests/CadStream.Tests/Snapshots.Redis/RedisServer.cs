using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace CadStream.Tests.Snapshots.Redis;

/// <summary>
/// A throw-away redis-server on a free loopback port, started as a child process and killed at the
/// end; without persistence unless <see cref="DataFolder"/> is set (then with its append-only file,
/// fsynced always, so a stop and start keeps every acknowledged write). Needs Debian's redis-server
/// (scripts/setup.sh test installs it).
/// </summary>
public sealed class RedisServer : IAsyncLifetime
{
    private Process? process;

    /// <summary>When set, the server requires it (requirepass), as the compose stack's Redis does.</summary>
    public string? Password { get; init; }

    /// <summary>When set, the server keeps an append-only file here and <see cref="StartAgainAsync"/> reloads it.</summary>
    public string? DataFolder { get; init; }

    public int Port { get; private set; }
    public string Endpoint => $"127.0.0.1:{Port}";
    /// <summary>A connection for looking at and damaging keys directly (admin commands allowed).</summary>
    public ConnectionMultiplexer Admin { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var exe = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-server is not installed: run scripts/setup.sh test (Debian package redis-server)");
        for (int attempt = 0; ; attempt++)
        {
            Port = CadStream.Tests.Host.Cluster.ClusterTestKit.FreePort();
            if (await LaunchAsync(exe)) break;
            if (attempt == 2) throw new InvalidOperationException($"redis-server did not start on port {Port}");
        }
        var admin = ConfigurationOptions.Parse(Endpoint);
        admin.AllowAdmin = true;
        admin.AbortOnConnectFail = false;
        admin.Password = Password;
        Admin = await ConnectionMultiplexer.ConnectAsync(admin);
    }

    static string Exe => new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.First(File.Exists);

    async Task<bool> LaunchAsync(string exe)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        var persistence = DataFolder is null
            ? new[] { "--save", "", "--appendonly", "no" }
            : ["--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", DataFolder];
        foreach (var a in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--loglevel", "warning" }.Concat(persistence))
            psi.ArgumentList.Add(a);
        if (Password is not null) { psi.ArgumentList.Add("--requirepass"); psi.ArgumentList.Add(Password); }
        process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (await WaitForPortAsync(TimeSpan.FromSeconds(10))) return true;
        Kill();
        return false;
    }

    /// <summary>An outage: the server is killed outright (SIGKILL); clients see refused connections.</summary>
    public void Stop() => Kill();

    /// <summary>Starts the server again on the same port (and, with <see cref="DataFolder"/>, the same data).</summary>
    public async Task StartAgainAsync()
    {
        var clock = Stopwatch.StartNew();
        // The port may linger briefly after a kill; retry rather than move (clients know only this port).
        while (!await LaunchAsync(Exe))
            if (clock.Elapsed > TimeSpan.FromSeconds(30)) throw new InvalidOperationException($"redis-server did not start again on port {Port}");
    }

    async Task<bool> WaitForPortAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (process!.HasExited) return false;
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, Port);
                return true;
            }
            catch (SocketException) { await Task.Delay(50); }
        }
        return false;
    }

    void Kill()
    {
        if (process is null) return;
        try { if (!process.HasExited) process.Kill(); process.WaitForExit(5000); }
        catch (InvalidOperationException) { }
        process.Dispose();
        process = null;
    }

    public async Task DisposeAsync()
    {
        if (Admin is not null) await Admin.DisposeAsync();
        Kill();
    }
}
