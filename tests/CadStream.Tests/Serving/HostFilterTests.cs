using System.Net;
using CadStream.Serving;
using Microsoft.AspNetCore.Http;

namespace CadStream.Tests.Serving;

/// <summary>Http:AllowedHosts: a loopback node answers only to its own names (DNS rebinding), JSON 400 otherwise.</summary>
public sealed class HostFilterTests
{
    static async Task<(int Status, string Body, bool Passed)> Run(HostFilter filter, string host, string path = "/v1/models")
    {
        var context = new DefaultHttpContext();
        context.Request.Host = new HostString(host);
        context.Request.Path = path;
        context.Response.Body = new MemoryStream();
        bool passed = false;
        await filter.InvokeAsync(context, _ => { passed = true; return Task.CompletedTask; });
        context.Response.Body.Position = 0;
        return (context.Response.StatusCode, await new StreamReader(context.Response.Body).ReadToEndAsync(), passed);
    }

    [Theory]
    [InlineData("127.0.0.1:8080", true)]
    [InlineData("localhost:8080", true)]
    [InlineData("[::1]:8080", true)]
    [InlineData("127.3.4.5:8080", true)]
    [InlineData("rebound.attacker.example:8080", false)]
    [InlineData("127.0.0.1.nip.io", false)]
    public async Task A_loopback_node_without_names_answers_only_to_loopback_hosts(string host, bool allowed)
    {
        var (status, body, passed) = await Run(new HostFilter([], loopbackDefault: true), host);
        Assert.Equal(allowed, passed);
        if (!allowed)
        {
            Assert.Equal((int)HttpStatusCode.BadRequest, status);
            Assert.Contains("Http:AllowedHosts", System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("error").GetString());
        }
    }

    [Fact]
    public async Task Configured_names_replace_the_default_and_a_star_takes_any()
    {
        var named = new HostFilter(["cad.example.org"], loopbackDefault: true);
        Assert.True((await Run(named, "cad.example.org:443")).Passed);
        Assert.False((await Run(named, "127.0.0.1:8080")).Passed);
        Assert.True((await Run(new HostFilter(["*"], loopbackDefault: true), "anything.example")).Passed);
        Assert.True((await Run(new HostFilter([], loopbackDefault: false), "anything.example")).Passed);
    }

    [Theory]
    [InlineData("/healthz", true)]
    [InlineData("/readyz", true)]
    [InlineData("/metrics", true)]
    [InlineData("/", false)]
    [InlineData("/v1/models", false)]
    [InlineData("/healthz/../v1/models", false)]
    public async Task Probes_and_the_scrape_answer_under_any_host_and_nothing_else_does(string path, bool passed)
    {
        // Prometheus and orchestrators reach a node by its IP address (10.0.0.7 here), which no name list holds.
        var named = new HostFilter(["cad.example.org"], loopbackDefault: false);
        Assert.Equal(passed, (await Run(named, "10.0.0.7:8080", path)).Passed);
    }
}
