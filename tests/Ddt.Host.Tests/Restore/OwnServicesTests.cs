using MongoDB.Driver;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Restore;

namespace WapBackup.Ddt.Host.Tests.Restore;

/// <summary>A restore target that is the repository's own 47019/57019 is refused however it is spelled.</summary>
public sealed class OwnServicesTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<(string Endpoint, string Service)?> FindAsync(string mongoHost, string target, params (string Uri, string Service)[] services)
    {
        var sample = Samples.Repository();
        var repository = sample with { Policy = sample.Policy with { MongoHost = mongoHost } };
        return OwnServices.FindAsync(repository, new MongoUrl(target), services, Ct);
    }

    [Theory]
    [InlineData("127.0.0.1", "mongodb://localhost:57019", OwnServices.OplogStore)]
    [InlineData("localhost", "mongodb://127.0.0.1:47019/?directConnection=true", OwnServices.FullCopy)]
    [InlineData("LocalHost.", "mongodb://127.0.0.1:47019", OwnServices.FullCopy)]
    [InlineData("127.0.0.1", "mongodb://[::1]:57019", OwnServices.OplogStore)]
    [InlineData("127.0.0.1", "mongodb://10.9.9.9:27017,localhost:47019/?replicaSet=rs0", OwnServices.FullCopy)]
    public async Task Names_that_resolve_to_the_service_host_are_the_own_service(string mongoHost, string target, string service)
    {
        var own = await FindAsync(mongoHost, target);

        Assert.Equal(service, own?.Service);
    }

    [Fact]
    public async Task This_machines_loopback_at_a_service_port_is_own_whatever_mongoHost_says()
    {
        // The restore runs on the DDT host: its 47019 is the full copy even when mongoHost names its public address.
        var own = await FindAsync("10.20.30.40", "mongodb://localhost:47019");

        Assert.Equal(("localhost:47019", OwnServices.FullCopy), own);
    }

    [Fact]
    public async Task The_configured_service_uris_are_own_at_any_port()
    {
        var own = await FindAsync("10.20.30.40", "mongodb://localhost:40123", ("mongodb://127.0.0.1:40123/?directConnection=true", OwnServices.OplogStore));

        Assert.Equal(("localhost:40123", OwnServices.OplogStore), own);
    }

    [Theory]
    [InlineData("127.0.0.1", "mongodb://127.0.0.1:27017")]
    [InlineData("127.0.0.1", "mongodb://10.9.9.9:57019")]
    [InlineData("10.20.30.40", "mongodb://localhost:40124")]
    public async Task Other_servers_are_not_own(string mongoHost, string target)
    {
        Assert.Null(await FindAsync(mongoHost, target, ("mongodb://127.0.0.1:40123", OwnServices.OplogStore)));
    }
}
