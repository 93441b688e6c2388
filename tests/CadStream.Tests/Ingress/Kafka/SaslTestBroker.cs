using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CadStream.Tests.Ingress.Kafka;

/// <summary>
/// The SASL handshake of a Kafka broker and nothing more, on a loopback port: it answers ApiVersions,
/// SaslHandshake (PLAIN) and SaslAuthenticate, records the client id, user name and password each
/// client sent, and refuses every login. librdkafka's mock cluster speaks plaintext only (its handlers
/// have no SaslHandshake or SaslAuthenticate), so this is how a test sees what a real client puts on the
/// wire when given SASL settings: the real librdkafka, its real SASL/PLAIN exchange, and an answer a
/// client reports as an authentication failure.
/// </summary>
public sealed class SaslTestBroker : IDisposable
{
    const short ApiVersions = 18, SaslHandshake = 17, SaslAuthenticate = 36;
    const short SaslAuthenticationFailed = 58;

    private readonly TcpListener listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource stop = new();

    public sealed record Login(string ClientId, string Mechanism, string User, string Password);

    /// <summary>Every SASL/PLAIN login attempted, in order.</summary>
    public ConcurrentQueue<Login> Logins { get; } = new();
    public string Bootstrap { get; }

    public SaslTestBroker()
    {
        listener.Start();
        Bootstrap = $"127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
        _ = Task.Run(AcceptAsync);
    }

    async Task AcceptAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await listener.AcceptTcpClientAsync(stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        var stream = client.GetStream();
        string mechanism = "";
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var size = new byte[4];
                await stream.ReadExactlyAsync(size, stop.Token);
                var request = new byte[BinaryPrimitives.ReadInt32BigEndian(size)];
                await stream.ReadExactlyAsync(request, stop.Token);
                var r = new Reader(request);
                short apiKey = r.Int16(), version = r.Int16();
                int correlation = r.Int32();
                string clientId = r.String() ?? "";
                var reply = new Writer();
                reply.Int32(correlation);  // response header v0 (ApiVersions always, and these non-flexible versions)
                switch (apiKey)
                {
                    case ApiVersions:
                        reply.Int16(0);
                        (short Key, short Min, short Max)[] apis = [(ApiVersions, 0, 3), (SaslHandshake, 0, 1), (SaslAuthenticate, 0, 0)];
                        if (version >= 3)
                        {
                            reply.UVarInt(apis.Length + 1);
                            foreach (var a in apis) { reply.Int16(a.Key); reply.Int16(a.Min); reply.Int16(a.Max); reply.UVarInt(0); }
                            reply.Int32(0);
                            reply.UVarInt(0);
                        }
                        else
                        {
                            reply.Int32(apis.Length);
                            foreach (var a in apis) { reply.Int16(a.Key); reply.Int16(a.Min); reply.Int16(a.Max); }
                            if (version >= 1) reply.Int32(0);
                        }
                        break;
                    case SaslHandshake:
                        mechanism = r.String() ?? "";
                        reply.Int16((short)(mechanism == "PLAIN" ? 0 : 33));  // 33: unsupported SASL mechanism
                        reply.Int32(1);
                        reply.String("PLAIN");
                        break;
                    case SaslAuthenticate:
                        // PLAIN: authzid NUL user NUL password.
                        var parts = Encoding.UTF8.GetString(r.Bytes()).Split('\0');
                        Logins.Enqueue(new Login(clientId, mechanism, parts.ElementAtOrDefault(1) ?? "", parts.ElementAtOrDefault(2) ?? ""));
                        reply.Int16(SaslAuthenticationFailed);
                        reply.String("test broker: no login succeeds here");
                        reply.Int32(0);
                        break;
                    default:
                        return;  // anything else: hang up, as a broker does on requests it does not know
                }
                var body = reply.ToArray();
                var frame = new byte[4 + body.Length];
                BinaryPrimitives.WriteInt32BigEndian(frame, body.Length);
                body.CopyTo(frame, 4);
                await stream.WriteAsync(frame, stop.Token);
            }
        }
        catch (Exception) { /* the client hung up, or the test is over */ }
    }

    public void Dispose()
    {
        stop.Cancel();
        listener.Stop();
    }

    sealed class Reader(byte[] data)
    {
        int at;
        public short Int16() { var v = BinaryPrimitives.ReadInt16BigEndian(data.AsSpan(at)); at += 2; return v; }
        public int Int32() { var v = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(at)); at += 4; return v; }
        public string? String()
        {
            int n = Int16();
            if (n < 0) return null;
            var s = Encoding.UTF8.GetString(data, at, n);
            at += n;
            return s;
        }
        public byte[] Bytes()
        {
            int n = Int32();
            var b = data.AsSpan(at, Math.Max(0, n)).ToArray();
            at += Math.Max(0, n);
            return b;
        }
    }

    sealed class Writer
    {
        readonly MemoryStream m = new();
        public void Int16(short v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteInt16BigEndian(b, v); m.Write(b); }
        public void Int32(int v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteInt32BigEndian(b, v); m.Write(b); }
        public void UVarInt(int v)
        {
            uint u = (uint)v;
            while (u >= 0x80) { m.WriteByte((byte)(u | 0x80)); u >>= 7; }
            m.WriteByte((byte)u);
        }
        public void String(string s)
        {
            var b = Encoding.UTF8.GetBytes(s);
            Int16((short)b.Length);
            m.Write(b);
        }
        public byte[] ToArray() => m.ToArray();
    }
}
