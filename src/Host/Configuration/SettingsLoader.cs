using CadStream.Catalog;
using Microsoft.Extensions.Configuration;

namespace CadStream.Host.Configuration;

/// <summary>Binds the overlaid configuration keys (<see cref="SettingsOverlay"/>) to <see cref="CadStreamSettings"/>.</summary>
internal static class SettingsLoader
{
    /// <summary>
    /// Reads <paramref name="file"/> (default <see cref="CadStreamSettings.DefaultFile"/>) with its chain of bases, then the
    /// environment: the process's, or <paramref name="environment"/> when given (what a container would see).
    /// </summary>
    public static CadStreamSettings Load(string? file, IEnumerable<KeyValuePair<string, string?>>? environment = null)
    {
        var data = SettingsOverlay.LoadFlattened(file ?? CadStreamSettings.DefaultFile, out var lists);
        SettingsOverlay.ApplyEnvironment(data, lists, environment ?? SettingsOverlay.ProcessEnvironment());
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(data).Build();
        var settings = new CadStreamSettings();
        try { configuration.Bind(settings); }
        catch (InvalidOperationException e)
        {
            // The binder says which key held a value of the wrong type (e.g. "Mode": "cda"); pass that on in one line.
            throw new InvalidDataException($"configuration: {(e.InnerException?.Message ?? e.Message).Split('\n')[0]}", e);
        }
        // The binder appends configured list entries to a property's default list; these replace it instead.
        var roles = configuration.GetSection("Node:Roles").Get<string[]>();
        var seeds = configuration.GetSection("Node:SeedNodes").Get<string[]>();
        // Each model bound on its own: the binder skips a list entry it cannot read (a "Kind" or "Mode" it does not
        // know) without a word, which would drop the model. The lists of each model (class names, channel
        // multipliers, cross-attention sides) replace the defaults, as above.
        var models = configuration.GetSection(nameof(CadStreamSettings.Models)).GetChildren().Select(section =>
        {
            ModelSpec m;
            try { m = section.Get<ModelSpec>() ?? new ModelSpec(); }
            catch (InvalidOperationException e)
            {
                throw new InvalidDataException($"configuration: {section.Path}: {(e.InnerException?.Message ?? e.Message).Split('\n')[0]}", e);
            }
            return m with
            {
                Classes = section.GetSection(nameof(ModelSpec.Classes)).Get<string[]>() ?? [],
                ChannelMultipliers = section.GetSection(nameof(ModelSpec.ChannelMultipliers)).Get<int[]>() ?? new ModelSpec().ChannelMultipliers,
                CrossAttentionResolutions = section.GetSection(nameof(ModelSpec.CrossAttentionResolutions)).Get<int[]>() ?? new ModelSpec().CrossAttentionResolutions,
            };
        }).ToList();
        return settings with
        {
            Node = settings.Node with { Roles = roles ?? settings.Node.Roles, SeedNodes = seeds ?? [] },
            Models = models,
        };
    }
}
