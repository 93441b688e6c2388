using System.Diagnostics;
using System.Text;

namespace CadStream.Tests.Imaging;

/// <summary>
/// Image files written by encoders other than Skia, the ones users' data comes from: libjpeg-turbo's
/// <c>cjpeg</c>, libwebp's <c>cwebp</c>, <c>exiftool</c> for an EXIF orientation, and Pillow (CMYK JPEG,
/// GIF, BMP). Installed by <c>scripts/setup.sh test</c>; a missing tool fails the test and says so.
/// The picture: <see cref="Width"/> x <see cref="Height"/>, its left half red and its right half blue.
/// </summary>
public sealed class ForeignEncoders : IDisposable
{
    public const int Width = 64, Height = 32;
    public static readonly (int R, int G, int B) Red = (255, 0, 0), Blue = (0, 0, 255);

    readonly string dir = Directory.CreateTempSubdirectory("cadstream-foreign-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>The picture as a binary PPM, the input cjpeg and cwebp read.</summary>
    string Ppm()
    {
        var path = Path.Combine(dir, "halves.ppm");
        if (File.Exists(path)) return path;
        using var f = File.Create(path);
        f.Write(Encoding.ASCII.GetBytes($"P6\n{Width} {Height}\n255\n"));
        for (int y = 0; y < Height; y++)
            for (int x = 0; x < Width; x++)
            {
                var (r, g, b) = x < Width / 2 ? Red : Blue;
                f.Write([(byte)r, (byte)g, (byte)b]);
            }
        return path;
    }

    /// <summary>A JPEG by cjpeg: baseline, or progressive.</summary>
    public byte[] Cjpeg(bool progressive)
    {
        var output = Path.Combine(dir, progressive ? "progressive.jpg" : "baseline.jpg");
        var args = new List<string> { "-quality", "95" };
        if (progressive) args.Add("-progressive");
        args.AddRange(["-outfile", output, Ppm()]);
        Run("cjpeg", args);
        return File.ReadAllBytes(output);
    }

    /// <summary>A lossy WebP by cwebp.</summary>
    public byte[] Cwebp()
    {
        var output = Path.Combine(dir, "halves.webp");
        Run("cwebp", ["-quiet", "-q", "95", Ppm(), "-o", output]);
        return File.ReadAllBytes(output);
    }

    /// <summary>cjpeg's baseline JPEG with EXIF Orientation set by exiftool (6 = shown turned 90 degrees clockwise).</summary>
    public byte[] ExifRotatedJpeg(int orientation)
    {
        var output = Path.Combine(dir, $"oriented-{orientation}.jpg");
        File.WriteAllBytes(output, Cjpeg(progressive: false));
        Run("exiftool", ["-q", "-overwrite_original", $"-Orientation={orientation}", "-n", output]);
        return File.ReadAllBytes(output);
    }

    /// <summary>
    /// The picture written by Pillow under /usr/bin/python3: <c>cmyk</c> (a 4-component Adobe JPEG),
    /// <c>gif</c> (two frames: the picture, then all green, so only the first must be taken) or <c>bmp</c>.
    /// </summary>
    public byte[] Pillow(string kind)
    {
        var output = Path.Combine(dir, $"pillow.{kind}");
        var script = $$"""
            from PIL import Image
            im = Image.open({{Py(Ppm())}}).convert("RGB")
            kind, out = {{Py(kind)}}, {{Py(output)}}
            if kind == "cmyk":
                im.convert("CMYK").save(out, "JPEG", quality=95)
            elif kind == "gif":
                green = Image.new("RGB", im.size, (0, 255, 0))
                im.save(out, "GIF", save_all=True, append_images=[green], duration=100, loop=0)
            else:
                im.save(out, "BMP")
            """;
        Run("/usr/bin/python3", ["-c", script]);
        return File.ReadAllBytes(output);
    }

    static string Py(string s) => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'";

    static void Run(string tool, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{tool} is not installed ({e.Message}); run scripts/setup.sh test", e);
        }
        using (p)
        {
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = p.StandardOutput.ReadToEndAsync();
            if (!p.WaitForExit(60_000)) { p.Kill(); throw new TimeoutException($"{tool} ran over 60 s"); }
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException($"{tool} exited {p.ExitCode}: {stderr.Result}{stdout.Result}");
        }
    }
}
