using System.Xml.Linq;

namespace CadStream.Tests.Docs;

/// <summary>
/// docs/architecture.md's projects table against the project files, both ways: every project under src/, bench/ and
/// tests/ has a row, every row names a project that exists, and each row lists exactly what its project references
/// (projects by their name under src/, packages and frameworks by id), so the page cannot drift from the build.
/// </summary>
public sealed class ArchitectureDocTests
{
    /// <summary>The table's rows: project folder -> the references it lists.</summary>
    static Dictionary<string, HashSet<string>> Table()
    {
        var lines = Repo.Read("docs", "architecture.md").Split('\n');
        int start = Array.FindIndex(lines, l => l.TrimEnd() == "## Projects and what each may reference");
        Assert.True(start >= 0, "docs/architecture.md has no section '## Projects and what each may reference'");
        var rows = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        bool inTable = false;
        for (int i = start + 1; i < lines.Length && !lines[i].StartsWith("## ", StringComparison.Ordinal); i++)
        {
            var line = lines[i].Trim();
            if (!line.StartsWith('|')) { if (inTable) break; continue; }
            if (!inTable) { inTable = true; continue; }  // the header
            if (line.StartsWith("|---", StringComparison.Ordinal)) continue;
            var cells = line.Trim('|').Split('|').Select(c => c.Trim()).ToArray();
            var project = InterfacesDoc.Code(cells[0]).Single();
            Assert.True(rows.TryAdd(project, InterfacesDoc.Code(cells[^1]).ToHashSet(StringComparer.Ordinal)), $"{project} has two rows");
        }
        return rows;
    }

    /// <summary>A project's folder as the table names it, relative to the repository ("src/Model", "tests/CadStream.Tests").</summary>
    static string Folder(string csproj) => Path.GetRelativePath(Repo.Root, Path.GetDirectoryName(csproj)!).Replace('\\', '/');

    /// <summary>What a project file references: projects by their name under src/ (else their folder), packages and frameworks by id.</summary>
    static HashSet<string> References(string csproj)
    {
        var refs = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in XDocument.Load(csproj).Descendants())
        {
            var include = e.Attribute("Include")?.Value;
            if (include is null) continue;
            switch (e.Name.LocalName)
            {
                case "ProjectReference":
                    var folder = Folder(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(csproj)!, include.Replace('\\', '/'))));
                    refs.Add(folder.StartsWith("src/", StringComparison.Ordinal) ? folder["src/".Length..] : folder);
                    break;
                case "PackageReference" or "FrameworkReference":
                    refs.Add(include);
                    break;
            }
        }
        return refs;
    }

    static IEnumerable<string> ProjectFiles() =>
        new[] { "src", "bench", "tests" }.SelectMany(d => Directory.EnumerateFiles(Repo.File(d), "*.csproj", SearchOption.AllDirectories))
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"));

    [Fact]
    public void The_projects_table_lists_every_project_with_exactly_its_references()
    {
        var table = Table();
        foreach (var csproj in ProjectFiles())
        {
            var folder = Folder(csproj);
            Assert.True(table.TryGetValue(folder, out var listed), $"docs/architecture.md's projects table has no row for {folder}");
            var actual = References(csproj);
            var missing = actual.Except(listed).Order().ToArray();
            var extra = listed.Except(actual).Order().ToArray();
            Assert.True(missing.Length == 0, $"{folder} references {string.Join(", ", missing)}, which docs/architecture.md's projects table does not list");
            Assert.True(extra.Length == 0, $"docs/architecture.md's projects table lists {string.Join(", ", extra)} for {folder}, which it does not reference");
        }
        // And the other way: every row is a project with one project file.
        foreach (var (folder, listed) in table)
        {
            var files = Directory.Exists(Repo.File(folder)) ? Directory.GetFiles(Repo.File(folder), "*.csproj") : [];
            Assert.True(files.Length == 1, $"docs/architecture.md lists {folder}, which holds no project file");
            Assert.Equal(References(files[0]).Order(), listed.Order());
        }
    }
}
