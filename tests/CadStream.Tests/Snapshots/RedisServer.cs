using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace CadStream.Tests.Snapshots;

/// <summary>
/// A throw-away redis-server on a free loopback port (no persistence), started as a child process
/// and killed at the end. Needs Debian's redis-server (scripts/setup.sh test installs it).
/// </summary>
public sealed class RedisServer : IAsyncLifetime
{
    private Process? process;

    /// <summary>When set, the server requires it (requirepass), as the compose stack's Redis does.</summary>
    public string? Password { get; init; }

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
            Port = Cluster.ClusterTestKit.FreePort();
            var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning" })
                psi.ArgumentList.Add(a);
            if (Password is not null) { psi.ArgumentList.Add("--requirepass"); psi.ArgumentList.Add(Password); }
            process = Process.Start(psi)!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (await WaitForPortAsync(TimeSpan.FromSeconds(10))) break;
            Kill();
            if (attempt == 2) throw new InvalidOperationException($"redis-server did not start on port {Port}");
        }
        var admin = ConfigurationOptions.Parse(Endpoint);
        admin.AllowAdmin = true;
        admin.AbortOnConnectFail = false;
        admin.Password = Password;
        Admin = await ConnectionMultiplexer.ConnectAsync(admin);
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
