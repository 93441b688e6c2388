using System.Text.RegularExpressions;

namespace CadStream.Tests.Deploy;

/// <summary>The README's Deploy section says what the deployment files do: names, images, ports, paths and variables.</summary>
public sealed class ReadmeDeployTests
{
    static string Section()
    {
        var readme = Repo.Read("README.md");
        var start = readme.IndexOf("\n## Deploy\n", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no '## Deploy' section");
        var end = readme.IndexOf("\n## ", start + 5, StringComparison.Ordinal);
        return end < 0 ? readme[start..] : readme[start..end];
    }

    [Fact]
    public void The_readme_keeps_its_first_two_commands()
    {
        var blocks = Regex.Matches(Repo.Read("README.md"), "```sh\n(.*?)```", RegexOptions.Singleline);
        var first = blocks[0].Groups[1].Value.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("bash scripts/demo.sh", first[0]);
        Assert.StartsWith("bash scripts/test.sh", first[1]);
    }

    [Fact]
    public void The_deploy_section_names_the_services_images_ports_and_variables_of_the_compose_file()
    {
        var text = Section();
        // The variables compose requires, and no others.
        var required = Regex.Matches(Repo.Read("docker-compose.yml"), @"\$\{(\w+):\?").Select(m => m.Groups[1].Value).ToHashSet();
        foreach (var v in required) Assert.Contains($"export {v}=", text);
        var composePart = text[text.IndexOf("### Docker Compose", StringComparison.Ordinal)..];
        composePart = composePart[..composePart.IndexOf("\n### ", 5, StringComparison.Ordinal)];
        foreach (Match m in Regex.Matches(composePart, @"export (\w+)=")) Assert.Contains(m.Groups[1].Value, required);

        var compose = ComposeFile.Load(required.ToDictionary(v => v, v => "x"));
        foreach (var (name, service) in compose.Services)
        {
            Assert.Contains($"`{name}`", text);
            if (service.GetValueOrDefault("image") is string image) Assert.Contains($"`{image}`", text);
            foreach (var p in ComposeFile.Ports(service)) Assert.Contains(p.HostFrom.ToString(), text);
        }
        foreach (Match m in Regex.Matches(text, @"docker compose [^\n`]*"))
            foreach (Match s in Regex.Matches(m.Value, @"\bcadstream-[a-z]+\b"))
                Assert.True(compose.Services.ContainsKey(s.Value), $"README: '{m.Value}' names {s.Value}, which is not a compose service");
        Assert.Contains("8080-8089", text);
        Assert.Contains(string.Join(",", ComposeTests.NodeSettingsOf(compose, "cadstream-ingress").Node.Roles), text);
        Assert.Contains(ComposeTests.NodeSettingsOf(compose, "cadstream-ingress").Node.SeedNodes[0], text);
    }

    [Fact]
    public void The_deploy_section_describes_the_gpu_image_and_the_dashboard_as_they_are()
    {
        var text = Section();
        var gpu = Dockerfile.Parse(Repo.Read("Dockerfile.gpu"));
        var pytorchImage = gpu.GlobalArgs.Where(i => i.Keyword == "ARG").SelectMany(Dockerfile.Assignments).Single(a => a.Name == "PYTORCH_IMAGE").Value;
        Assert.Contains($"`{pytorchImage}`", text);
        var env = ComposeTests.ImageEnvironment(gpu, gpu.Stages[^1]);
        Assert.Contains($"`{env["CADSTREAM_LIBTORCH"]}`", text);
        Assert.Contains("CADSTREAM_DEVICE=" + env["CADSTREAM_DEVICE"], text);
        Assert.Contains("NVIDIA Container Toolkit", text);
        var title = GrafanaDashboard.Load().Root.GetProperty("title").GetString();
        Assert.Contains($"\"{title}\"", text);
        // Every repository path the section names exists.
        foreach (Match m in Regex.Matches(text, @"`(?<path>(?:config|scripts|src)/[^`\s{}]*|Dockerfile(?:\.gpu)?|docker-compose\.yml|\.dockerignore)`"))
        {
            var path = m.Groups["path"].Value;
            Assert.True(File.Exists(Repo.File(path)) || Directory.Exists(Repo.File(path)), $"README names {path}, which does not exist");
        }
        foreach (Match m in Regex.Matches(text, @"config/(?<dir>compose|cluster)/\{(?<names>[a-z,]+)\}\.json"))
            foreach (var n in m.Groups["names"].Value.Split(','))
                Assert.True(File.Exists(Repo.File("config", m.Groups["dir"].Value, n + ".json")), $"README names config/{m.Groups["dir"].Value}/{n}.json, which does not exist");
    }
}
