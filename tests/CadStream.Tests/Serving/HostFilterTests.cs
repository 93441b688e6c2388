using System.Net;
using CadStream.Serving;
using Microsoft.AspNetCore.Http;

namespace CadStream.Tests.Serving;

/// <summary>Http:AllowedHosts: a loopback node answers only to its own names (DNS rebinding), JSON 400 otherwise.</summary>
public sealed class HostFilterTests
{
    static async Task<(int Status, string Body, bool Passed)> Run(HostFilter filter, string host)
    {
        var context = new DefaultHttpContext();
        context.Request.Host = new HostString(host);
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
}
