namespace CadStream.Sources;

/// <summary>
/// A folder's stages: its images (any depth, sorted by path) into samples keyed by their path without extension,
/// with the <c>.txt</c>/<c>.json</c>/<c>.cls</c> sidecars beside each; an image in a subfolder of the root and with no
/// label of its own takes the subfolder's name as its class (class per subfolder, as torchvision's ImageFolder).
/// </summary>
public static class FolderSamples
{
    static readonly string[] Sidecars = ["txt", "json", "cls"];

    public static IEnumerable<Sample> Read(SourceFile folder, SourceReport report)
    {
        string[] all;
        try { all = Directory.GetFiles(folder.Path, "*", SearchOption.AllDirectories); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            report.FileFailed(folder.Path, null, $"cannot list ({e.Message})");
            yield break;
        }
        Array.Sort(all, StringComparer.Ordinal);
        foreach (var path in all)
        {
            var ext = Path.GetExtension(path).TrimStart('.').ToLowerInvariant();
            if (!SampleFields.ImageExtensions.Contains(ext)) continue;
            var relative = Path.GetRelativePath(folder.Path, path).Replace('\\', '/');
            var key = relative[..^(ext.Length + 1)];
            var parts = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            if (Read(path, folder, relative, report) is { } image) parts[ext] = image;
            foreach (var side in Sidecars)
            {
                var sidecar = Path.ChangeExtension(path, side);
                if (File.Exists(sidecar) && Read(sidecar, folder, Path.GetRelativePath(folder.Path, sidecar), report) is { } data) parts[side] = data;
            }
            int slash = key.IndexOf('/');
            if (slash > 0 && !parts.ContainsKey("cls") && !HasJsonLabel(parts)) parts["cls"] = System.Text.Encoding.UTF8.GetBytes(key[..slash]);
            yield return new Sample(folder.Name, key, parts);
        }
        report.FileDone();
    }

    static bool HasJsonLabel(Dictionary<string, byte[]> parts) =>
        parts.TryGetValue("json", out var json) && System.Text.Encoding.UTF8.GetString(json).Contains("\"label\"", StringComparison.Ordinal);

    static byte[]? Read(string path, SourceFile folder, string member, SourceReport report)
    {
        try { return File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            report.Problem(folder.Path, member, $"cannot read ({e.Message})");
            return null;
        }
    }
}
