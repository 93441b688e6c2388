using System.Text.Json;

namespace CadStream.Tests.Docs;

/// <summary>A /v1/status answer held to the status table of docs/interfaces.md.</summary>
public static class StatusShape
{
    /// <summary>
    /// Every field of <paramref name="status"/> is documented, and each documented field is there exactly when the
    /// node (its own <c>node.roles</c>) has a role that answers it, wherever its object is (a null object holds nothing).
    /// </summary>
    public static void AssertFollowsTheDocs(JsonElement status)
    {
        var roles = status.GetProperty("node").GetProperty("roles").EnumerateArray().Select(r => r.GetString()!).ToHashSet();
        var rows = InterfacesDoc.StatusRows();
        Assert.True(rows.Count >= 10, $"the status table has {rows.Count} rows");
        foreach (var group in rows.GroupBy(r => r.Object))
        {
            var documented = group.SelectMany(r => r.Fields).ToHashSet();
            foreach (var holder in At(status, group.Key))
            {
                foreach (var field in holder.EnumerateObject())
                    Assert.True(documented.Contains(field.Name), $"'{Path(group.Key, field.Name)}' is answered but not in the status table");
                foreach (var row in group)
                    foreach (var field in row.Fields)
                    {
                        bool mine = row.Roles.Length == 0 || row.Roles.Any(roles.Contains);
                        bool answered = holder.TryGetProperty(field, out _);
                        Assert.True(mine == answered, $"'{Path(group.Key, field)}' (for {(row.Roles.Length == 0 ? "every node" : string.Join(", ", row.Roles))}) " +
                            $"is {(answered ? "answered" : "missing")} on a node with roles {string.Join(", ", roles)}: {status.GetRawText()}");
                    }
            }
        }
    }

    static string Path(string obj, string field) => obj == "." ? field : $"{obj}.{field}";

    /// <summary>The objects at a documented path: "." the root, "a.b" a property's object, "a[]" each object of an array.</summary>
    static IEnumerable<JsonElement> At(JsonElement root, string path)
    {
        IEnumerable<JsonElement> here = [root];
        if (path == ".") return here;
        foreach (var step in path.Split('.'))
        {
            bool each = step.EndsWith("[]", StringComparison.Ordinal);
            var name = each ? step[..^2] : step;
            here = here.SelectMany(e => e.TryGetProperty(name, out var v)
                ? each && v.ValueKind == JsonValueKind.Array ? v.EnumerateArray().ToArray() : [v]
                : Array.Empty<JsonElement>()).Where(v => v.ValueKind == JsonValueKind.Object).ToArray();
        }
        return here;
    }
}
