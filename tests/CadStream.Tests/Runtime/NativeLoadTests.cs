using CadStream.Runtime;
using CadStream.Tests.Model;
using static TorchSharp.torch;

namespace CadStream.Tests.Runtime;

public class NativeLoadTests
{
    [Fact]
    public void Libtorch_loads_and_computes()
    {
        var device = TestModels.Cpu;
        Assert.Equal(TorchSharp.DeviceType.CPU, device.type);
        using var a = tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        using var b = a.matmul(a);
        Assert.Equal(new float[] { 7, 10, 15, 22 }, b.data<float>().ToArray());
        Assert.Contains("torch=2.", TorchRuntime.Describe());
    }

    [Fact]
    public void Shim_in_output_folder_has_weak_glibcxx_need()
    {
        // The build step must have patched the copy beside the tests (the NuGet cache stays as shipped).
        var shim = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(shim), $"{shim} is missing");
        var bytes = File.ReadAllBytes(shim);
        var name = System.Text.Encoding.ASCII.GetBytes("GLIBCXX_3.4.32\0");
        Assert.True(bytes.AsSpan().IndexOf(name) >= 0, "shim no longer needs GLIBCXX_3.4.32; revisit build/TorchSharpNative.targets");
        Assert.True(ElfVersionNeeds.IsWeak(bytes, "GLIBCXX_3.4.32"));
    }
}

/// <summary>Reads the VER_FLG_WEAK bit of a version need (ELF64 LE), independently of the build task.</summary>
static class ElfVersionNeeds
{
    public static bool IsWeak(byte[] b, string version)
    {
        ulong shoff = BitConverter.ToUInt64(b, 0x28);
        int entsize = BitConverter.ToUInt16(b, 0x3A), count = BitConverter.ToUInt16(b, 0x3C);
        for (int i = 0; i < count; i++)
        {
            int sh = (int)shoff + i * entsize;
            if (BitConverter.ToUInt32(b, sh + 4) != 0x6ffffffe) continue;
            int off = (int)BitConverter.ToUInt64(b, sh + 0x18);
            int strSh = (int)shoff + (int)BitConverter.ToUInt32(b, sh + 0x28) * entsize;
            int str = (int)BitConverter.ToUInt64(b, strSh + 0x18);
            int vn = off;
            for (uint n = 0; n < BitConverter.ToUInt32(b, sh + 0x2C); n++)
            {
                int aux = vn + (int)BitConverter.ToUInt32(b, vn + 8);
                for (int a = 0; a < BitConverter.ToUInt16(b, vn + 2); a++)
                {
                    int name = str + (int)BitConverter.ToUInt32(b, aux + 8);
                    int end = Array.IndexOf(b, (byte)0, name);
                    if (System.Text.Encoding.ASCII.GetString(b, name, end - name) == version)
                        return (BitConverter.ToUInt16(b, aux + 4) & 2) != 0;
                    aux += (int)BitConverter.ToUInt32(b, aux + 12);
                }
                vn += (int)BitConverter.ToUInt32(b, vn + 12);
            }
        }
        throw new InvalidOperationException($"{version} not found");
    }
}
