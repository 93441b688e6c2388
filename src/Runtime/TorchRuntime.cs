using System.Runtime.InteropServices;
using TorchSharp;

namespace CadStream.Runtime;

/// <summary>Raised when the requested compute device cannot be used; the message is one line for the user.</summary>
public sealed class DeviceUnavailableException(string message) : Exception(message);

/// <summary>
/// Loads libtorch once per process and picks the compute device.
/// CADSTREAM_LIBTORCH names a folder with a CUDA libtorch (e.g. PyTorch's torch/lib); its
/// libraries are loaded by full path before TorchSharp's shim, so the shim binds to them
/// (docs/architecture.md, "Measured facts"). CADSTREAM_DEVICE = auto | cpu | cuda.
/// </summary>
public static class TorchRuntime
{
    static readonly object Gate = new();
    static torch.Device? _device;

    // Order matters: each library's dependencies must already be in the process.
    static readonly string[] CudaLibraries = ["libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so"];

    public static torch.Device Device => _device ?? Initialize();

    public static bool IsCuda => Device.type == DeviceType.CUDA;

    /// <summary>Initialises the native backend and returns the device to compute on.</summary>
    public static torch.Device Initialize(string? deviceRequest = null, int? threads = null)
    {
        lock (Gate)
        {
            if (_device is not null) return _device;
            PreferPassiveOpenMpWaiting();
            var request = (deviceRequest ?? Environment.GetEnvironmentVariable("CADSTREAM_DEVICE") ?? "auto").Trim().ToLowerInvariant();
            if (request is not ("auto" or "cpu" or "cuda"))
                throw new DeviceUnavailableException($"CADSTREAM_DEVICE must be auto, cpu or cuda (got '{request}')");

            var libtorch = Environment.GetEnvironmentVariable("CADSTREAM_LIBTORCH");
            bool cudaLoaded = false;
            string? cudaError = null;
            if (request != "cpu" && !string.IsNullOrWhiteSpace(libtorch))
                cudaLoaded = TryLoadCudaLibtorch(libtorch, out cudaError);

            if (request == "cuda" && !cudaLoaded && string.IsNullOrWhiteSpace(libtorch))
                throw new DeviceUnavailableException("CADSTREAM_DEVICE=cuda needs CADSTREAM_LIBTORCH set to a folder with a CUDA libtorch (e.g. PyTorch's torch/lib)");
            if (request == "cuda" && !cudaLoaded)
                throw new DeviceUnavailableException($"CADSTREAM_DEVICE=cuda, but the CUDA libtorch in {libtorch} did not load: {cudaError}");

            torch.Device device = torch.CPU;
            if (cudaLoaded)
            {
                try
                {
                    torch.InitializeDeviceType(DeviceType.CUDA);
                    if (torch.cuda.is_available()) device = torch.CUDA;
                    else cudaError = "torch.cuda.is_available() is false (no GPU or driver)";
                }
                catch (Exception e) { cudaError = FirstLine(e.Message); }
                if (device.type != DeviceType.CUDA && request == "cuda")
                    throw new DeviceUnavailableException($"CADSTREAM_DEVICE=cuda, but CUDA did not initialise: {cudaError}");
            }
            else
            {
                try { torch.InitializeDeviceType(DeviceType.CPU); }
                catch (Exception e) { throw new DeviceUnavailableException($"libtorch did not load: {FirstLine(e.Message)}"); }
            }

            if (device.type == DeviceType.CUDA)
            {
                torch.backends.cuda.matmul.allow_tf32 = true;
                torch.backends.cudnn.allow_tf32 = true;
            }
            var n = threads ?? Math.Max(1, Environment.ProcessorCount);
            torch.set_num_threads(n);
            _device = device;
            return device;
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/> on this thread with libtorch's intra-op thread count set to
    /// <paramref name="threads"/>, then puts this thread's former count back. Ops that split a sum across
    /// threads (convolutions, matrix products) give other last bits with another count, so runs that must
    /// give the same bits use the same count. The count is per thread once a thread has run a parallel op;
    /// a thread that never has starts with the last count set anywhere, so code that compares bits sets its own.
    /// </summary>
    public static T WithThreads<T>(int threads, Func<T> body)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        _ = Device;
        int before = torch.get_num_threads();
        torch.set_num_threads(threads);
        try { return body(); }
        finally { torch.set_num_threads(before); }
    }

    static bool TryLoadCudaLibtorch(string folder, out string? error)
    {
        error = null;
        if (!Directory.Exists(folder)) { error = $"folder {folder} does not exist"; return false; }
        try
        {
            foreach (var lib in CudaLibraries)
            {
                var path = Path.Combine(folder, lib);
                if (!File.Exists(path)) { error = $"{path} is missing"; return false; }
                NativeLibrary.Load(path);
            }
            // TorchSharp's own shim, from beside TorchSharp.dll (patched by the build).
            var baseDir = AppContext.BaseDirectory;
            foreach (var candidate in new[] { Path.Combine(baseDir, "libLibTorchSharp.so"), Path.Combine(baseDir, "runtimes", "linux-x64", "native", "libLibTorchSharp.so") })
                if (File.Exists(candidate)) { NativeLibrary.Load(candidate); return true; }
            error = "libLibTorchSharp.so not found beside the application";
            return false;
        }
        catch (Exception e) { error = FirstLine(e.Message); return false; }
    }

    static string FirstLine(string s) => s.Split('\n', 2)[0].Trim();

    /// <summary>
    /// libtorch's OpenMP threads spin while they wait for work. A node runs several torch users at once
    /// (trainers, scorers, samplers) beside its actor and Kafka threads: spinning threads take the cores
    /// the others need (measured on 2 busy cores: 14 img/s spinning, 89 img/s passive, and heartbeats
    /// starve). OpenMP reads OMP_WAIT_POLICY when libtorch loads, so it is set in the native environment
    /// before that, unless the operator set it.
    /// </summary>
    static void PreferPassiveOpenMpWaiting()
    {
        if (OperatingSystem.IsWindows() || Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is not null) return;
        try { _ = setenv("OMP_WAIT_POLICY", "PASSIVE", overwrite: 0); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { /* no libc: leave the default */ }
    }

    [DllImport("libc", CharSet = CharSet.Ansi, SetLastError = true)]
    static extern int setenv(string name, string value, int overwrite);

    /// <summary>The version string of the loaded libtorch, proving the native library works.</summary>
    public static string Describe()
    {
        var d = Device;
        return $"device={d.type}, threads={torch.get_num_threads()}, torch={torch.__version__}";
    }
}
