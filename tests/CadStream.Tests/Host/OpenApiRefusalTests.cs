using CadStream.Host.Configuration;

namespace CadStream.Tests.Host;

/// <summary>
/// A node never serves its HTTP API to the network without keys by default: `cadstream node` and
/// `cadstream demo` refuse an address other than loopback without Http:ApiKeys (exit 2, one line that
/// says how to fix it), unless Http:AllowAnonymous says so on purpose.
/// </summary>
public sealed class OpenApiRefusalTests
{
    // An AllowAnonymous from the environment the tests run in must not open the API here.
    static readonly Dictionary<string, string> NoOptOut = new() { ["CADSTREAM__Http__AllowAnonymous"] = "false" };

    static void AssertRefused(CliResult r)
    {
        Assert.True(r.ExitCode == 2, $"exit code {r.ExitCode}; stderr: {r.Stderr}");
        var line = Assert.Single(r.StderrLines);
        Assert.Contains("refusing to serve HTTP on http://0.0.0.0:", line);
        Assert.Contains("CADSTREAM__Http__ApiKeys__0", line);
        Assert.Contains("Http:AllowAnonymous", line);
    }

    [Fact]
    public void Node_on_every_interface_without_keys_exits_2_with_the_fix()
    {
        AssertRefused(CliRunner.Run(["node", "--roles", "serving", "--http", "0.0.0.0:18080", "--duration", "5s"], NoOptOut, timeoutSeconds: 120));
    }

    [Fact]
    public void Demo_on_every_interface_without_keys_exits_2_before_starting_anything()
    {
        AssertRefused(CliRunner.Run(["demo", "--http", "0.0.0.0:18081", "--duration", "5s"], NoOptOut, timeoutSeconds: 120));
    }

    [Fact]
    public void A_blank_key_is_a_usage_error_not_an_open_api()
    {
        var r = CliRunner.Run(["node", "--roles", "serving", "--http", "0.0.0.0:18082", "--duration", "5s"],
            new Dictionary<string, string> { ["CADSTREAM__Http__ApiKeys__0"] = " " }, timeoutSeconds: 120);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("Http:ApiKeys", Assert.Single(r.StderrLines));
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080", true)]
    [InlineData("127.0.0.1:0", true)]
    [InlineData("http://127.3.4.5:8080", true)]
    [InlineData("http://localhost:8080", true)]
    [InlineData("http://[::1]:8080", true)]
    [InlineData("http://0.0.0.0:8080", false)]
    [InlineData("http://[::]:8080", false)]
    [InlineData("http://*:8080", false)]
    [InlineData("http://+:8080", false)]
    [InlineData("http://10.0.0.5:8080", false)]
    [InlineData("http://cadstream-serving:8080", false)]
    public void Loopback_is_this_machine_only(string url, bool loopback) => Assert.Equal(loopback, HttpSettings.IsLoopback(url));

    [Fact]
    public void Keys_or_an_explicit_choice_let_a_node_listen_everywhere()
    {
        var open = new HttpSettings { Url = "http://0.0.0.0:8080" };
        Assert.NotNull(open.Problem());
        Assert.Null((open with { ApiKeys = ["k-123"] }).Problem());
        Assert.Null((open with { AllowAnonymous = true }).Problem());
        Assert.Null(new HttpSettings().Problem());  // the default listens on 127.0.0.1
        Assert.NotNull((open with { ApiKeys = ["has space"], AllowAnonymous = true }).Problem());
    }

    [Fact]
    public void Keys_come_from_the_environment_as_a_list_and_the_demo_default_stays_loopback()
    {
        var s = CadStreamSettings.Load(Repo.File("config", "cadstream.json"), new Dictionary<string, string?>
        {
            ["CADSTREAM__Http__ApiKeys__0"] = "first-key",
            ["CADSTREAM__Http__ApiKeys__1"] = "second-key",
            ["CADSTREAM__Http__ProtectMetrics"] = "true",
        });
        Assert.Equal(["first-key", "second-key"], s.Http.ApiKeys);
        Assert.True(s.Http.ProtectMetrics);
        Assert.True(HttpSettings.IsLoopback(CadStreamSettings.Load(Repo.File("config", "cadstream.json"), new Dictionary<string, string?>()).Http.Url));
        Assert.Contains("127.0.0.1:8080", new CadStream.Host.Commands.DemoCommand().Options.Single(o => o.Name == "http").Default);
    }
}
