using static TorchSharp.torch;

namespace CadStream.Model;

/// <summary>8-bit pixels to and from the model's float range [-1, 1] (channel-first, row-major).</summary>
public static class ImageTensors
{
    /// <summary>N*C*H*W 8-bit pixels as a float (N, C, H, W) tensor in [-1, 1], the model's input range.</summary>
    public static Tensor FromBytes(byte[] pixels, int count, int channels, int height, int width, Device? device = null)
    {
        using var bytes = tensor(pixels, [count, channels, height, width]);
        using var f = bytes.to(ScalarType.Float32);
        using var scaled = f.DividedBy(127.5);
        var x = scaled.Minus(1);
        if (device is null || device.type == TorchSharp.DeviceType.CPU) return x;
        using (x) return x.to(device);
    }

    /// <summary>A (N, C, H, W) tensor in [-1, 1] as row-major 8-bit pixels, N*C*H*W, channel-first per image.</summary>
    public static byte[] ToBytes(Tensor images)
    {
        using var detached = images.detach();
        using var cpu = detached.cpu();
        using var f = cpu.to(ScalarType.Float32);
        using var shifted = f.Plus(1);
        using var scaled = shifted.Times(127.5).round_().ClampInPlace(0, 255);
        using var u8 = scaled.to(ScalarType.Byte).contiguous();
        return u8.data<byte>().ToArray();
    }
}
