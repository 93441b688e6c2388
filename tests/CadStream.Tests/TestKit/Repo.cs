namespace CadStream.Tests.TestKit;

/// <summary>Paths in the repository the tests run from (found upwards from the test binaries).</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string File(params string[] parts) => Path.Combine([Root, .. parts]);

    public static string Read(params string[] parts) => System.IO.File.ReadAllText(File(parts));

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "CadStream.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no CadStream.sln above {AppContext.BaseDirectory}");
    }
}
