using System.Reflection;
using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace CadStream.Ingress.Kafka;

/// <summary>
/// The few librdkafka mock-cluster functions Confluent.Kafka does not wrap. They are bound in
/// the very librdkafka file Confluent.Kafka loaded (found in /proc/self/maps): a second copy of
/// the library would not know the first one's clients.
/// </summary>
internal static unsafe class MockClusterNative
{
    static readonly object Gate = new();
    static delegate* unmanaged[Cdecl]<IntPtr, IntPtr> clusterHandle;
    static delegate* unmanaged[Cdecl]<IntPtr, byte*, int, int, int> topicCreate;
    static delegate* unmanaged[Cdecl]<int, IntPtr> err2str;

    public static string? LibraryPath { get; private set; }

    static void Bind()
    {
        lock (Gate)
        {
            if (topicCreate != null) return;
            var path = LoadedLibrdkafka()
                ?? throw new InvalidOperationException("librdkafka is not loaded in this process (create a Confluent.Kafka client first)");
            var lib = NativeLibrary.Load(path); // the same file: the loader returns the loaded copy
            clusterHandle = (delegate* unmanaged[Cdecl]<IntPtr, IntPtr>)NativeLibrary.GetExport(lib, "rd_kafka_handle_mock_cluster");
            err2str = (delegate* unmanaged[Cdecl]<int, IntPtr>)NativeLibrary.GetExport(lib, "rd_kafka_err2str");
            topicCreate = (delegate* unmanaged[Cdecl]<IntPtr, byte*, int, int, int>)NativeLibrary.GetExport(lib, "rd_kafka_mock_topic_create");
            LibraryPath = path;
        }
    }

    /// <summary>The path of the librdkafka shared object mapped into this process, if any.</summary>
    static string? LoadedLibrdkafka()
    {
        if (!File.Exists("/proc/self/maps")) return null;
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            int slash = line.IndexOf('/');
            if (slash < 0) continue;
            var path = line[slash..].Trim();
            var name = Path.GetFileName(path);
            if (name.Contains("librdkafka", StringComparison.Ordinal) && name.Contains(".so", StringComparison.Ordinal)) return path;
        }
        return null;
    }

    /// <summary>Creates a topic in the mock cluster owned by the client behind <paramref name="owner"/>.</summary>
    public static void CreateTopic(Handle owner, string topic, int partitions, int replicationFactor)
    {
        Bind();
        var safe = NativeHandle(owner);
        bool added = false;
        try
        {
            safe.DangerousAddRef(ref added);
            // rd_kafka_handle_mock_cluster: rk -> its mock cluster (rd_kafka_mock_cluster_handle is the reverse).
            var mcluster = clusterHandle(safe.DangerousGetHandle());
            if (mcluster == IntPtr.Zero) throw new InvalidOperationException("the owning client has no mock cluster (test.mock.num.brokers not set)");
            var name = System.Text.Encoding.UTF8.GetBytes(topic + "\0");
            int err;
            fixed (byte* p = name) err = topicCreate(mcluster, p, partitions, replicationFactor);
            if (err != 0)
                throw new KafkaException(new Error((ErrorCode)err, $"creating mock topic {topic}: {Marshal.PtrToStringUTF8(err2str(err))}"));
        }
        finally
        {
            if (added) safe.DangerousRelease();
        }
    }

    /// <summary>Confluent.Kafka keeps the rd_kafka_t* in an internal SafeHandle of <see cref="Handle"/>.</summary>
    static SafeHandle NativeHandle(Handle handle)
    {
        const BindingFlags flags = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;
        object? value = typeof(Handle).GetProperty("LibrdkafkaHandle", flags)?.GetValue(handle)
                        ?? typeof(Handle).GetField("LibrdkafkaHandle", flags)?.GetValue(handle);
        return value as SafeHandle
               ?? throw new InvalidOperationException($"this Confluent.Kafka ({typeof(Handle).Assembly.GetName().Version}) keeps no LibrdkafkaHandle in Handle; the embedded broker cannot create topics");
    }
}
