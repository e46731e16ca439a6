using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Local.Host;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Repositories;
using WapBackup.Testing;

namespace WapBackup.Ddt.Host.Tests.Cli;

/// <summary>
/// What <c>./run.sh up</c> starts for the DDT host, on the real ports 47019/57019: the test server where nothing listens,
/// and what already listens is used. (A developer's stack already up on this machine makes the first start a reuse too.)
/// </summary>
public sealed class LocalHostServicesTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Up_serves_47019_and_57019_so_a_repository_with_mongo_host_127_0_0_1_reaches_both_and_a_second_up_uses_them()
    {
        string mongo = Path.Combine(AppContext.BaseDirectory, "MongoTestServer.dll");
        var log = new JsonLineLogger(TextWriter.Null, TimeProvider.System, "local");
        await using var first = await LocalHostServices.StartAsync(mongo, RepositoryRoot.Path, log, Ct);

        Assert.Equal([ServicePorts.OplogStore, ServicePorts.FullCopy], first.Services.Select(s => s.Port));
        var repository = Samples.Repository();
        Assert.Equal("127.0.0.1", repository.Policy.MongoHost);
        foreach (int port in new[] { ServicePorts.FullCopy, ServicePorts.OplogStore })
        {
            using var client = new MongoClient($"mongodb://{repository.Policy.MongoHost}:{port}/?directConnection=true");
            var ping = await client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("ping", 1), cancellationToken: Ct);
            Assert.Equal(1.0, ping["ok"].ToDouble());
        }

        await using var second = await LocalHostServices.StartAsync(mongo, RepositoryRoot.Path, log, Ct);
        Assert.All(second.Services, s => Assert.False(s.Started, $"{s.Role} was started again although it listened"));
    }

    [Fact]
    public async Task Up_uses_the_services_its_environment_names_and_starts_none()
    {
        var given = new Dictionary<string, string>
        {
            [LocalHostServices.FullCopyVariable] = "mongodb://127.0.0.1:41001/?directConnection=true",
            [LocalHostServices.OplogStoreVariable] = "mongodb://127.0.0.1:41002/?directConnection=true",
        };

        await using var services = LocalHostServices.FromEnvironment(name => given.GetValueOrDefault(name));

        Assert.NotNull(services);
        Assert.Equal([(41002, LocalHostServices.OplogStoreVariable), (41001, LocalHostServices.FullCopyVariable)], services.Services.Select(s => (s.Port, s.GivenBy)));
        Assert.All(services.Services, s => Assert.False(s.Started));
        Assert.Null(LocalHostServices.FromEnvironment(_ => null));
    }

    [Fact]
    public void Up_refuses_one_host_service_variable_without_the_other_naming_the_missing_one()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            LocalHostServices.FromEnvironment(name => name == LocalHostServices.FullCopyVariable ? "mongodb://127.0.0.1:41001/" : null));

        Assert.Contains($"{LocalHostServices.OplogStoreVariable} is not", error.Message, StringComparison.Ordinal);
    }
}
