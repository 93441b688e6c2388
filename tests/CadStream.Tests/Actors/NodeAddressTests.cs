using System.Net;
using CadStream.Actors;

namespace CadStream.Tests.Actors;

/// <summary>Where a node's remoting listens and which name it advertises (containers: 0.0.0.0 and their host name).</summary>
public sealed class NodeAddressTests
{
    [Fact]
    public void An_empty_hostname_advertises_this_machines_host_name_and_listens_everywhere()
    {
        var node = new NodeSettings { Hostname = "" };
        Assert.Equal(Dns.GetHostName(), node.PublicHostname());
        Assert.Equal("container-7f3a", node.PublicHostname(() => "container-7f3a"));
        Assert.Equal("0.0.0.0", node.EffectiveBindHostname);
        // Blank counts as empty (an environment variable set to spaces).
        Assert.Equal("container-7f3a", (node with { Hostname = "  " }).PublicHostname(() => "container-7f3a"));
    }

    [Fact]
    public void A_set_hostname_is_both_advertised_and_bound_unless_a_bind_address_is_given()
    {
        var node = new NodeSettings { Hostname = "10.0.0.5" };
        Assert.Equal("10.0.0.5", node.PublicHostname(() => "ignored"));
        Assert.Equal("10.0.0.5", node.EffectiveBindHostname);

        var seed = new NodeSettings { Hostname = "cadstream-ingress", BindHostname = "0.0.0.0" };
        Assert.Equal("cadstream-ingress", seed.PublicHostname(() => "container-7f3a"));
        Assert.Equal("0.0.0.0", seed.EffectiveBindHostname);

        var bindOnly = new NodeSettings { Hostname = "", BindHostname = "192.168.1.9" };
        Assert.Equal("192.168.1.9", bindOnly.EffectiveBindHostname);
        Assert.Equal("container-7f3a", bindOnly.PublicHostname(() => "container-7f3a"));
    }

    [Fact]
    public void The_default_stays_loopback_for_the_demo()
    {
        var node = new NodeSettings();
        Assert.Equal("127.0.0.1", node.PublicHostname(() => "machine"));
        Assert.Equal("127.0.0.1", node.EffectiveBindHostname);
    }
}
