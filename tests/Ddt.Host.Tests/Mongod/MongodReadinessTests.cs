using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Mongod;
using WapBackup.Local.Servers;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Mongod;

/// <summary>
/// <c>ddt mongod</c>'s first start with authorization (<see cref="MongodReadiness"/>): against a test server with
/// authorization required and no users (<see cref="MongoTestServerOptions.RequireAuthorization"/>, mongod's localhost
/// exception), the administrator from the SSM parameter is created once; a wrong password on a service that has users
/// fails naming the parameter, never the password.
/// </summary>
public sealed class MongodReadinessTests
{
    private const string Parameter = "/wap-backup/test/clusters/c1/host-services";
    private const string Password = "s3cret-Pa55word";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly MongodCredentials Administrator = new("wap-admin", Password);

    private static readonly MongodAccess Access = new(["127.0.0.1"], null, Parameter);

    private static readonly MongodReadiness Readiness = new(TimeProvider.System, TimeSpan.FromMilliseconds(50));

    /// <summary>A fresh service with authorization on: the single-member set ddt mongod expects, no user yet.</summary>
    private static async Task<(MongoTestServer Server, MongodService Service)> StartAsync(IReadOnlyDictionary<string, string>? users = null)
    {
        int port = NodeServerProcess.FreeLoopbackPort();
        var service = new MongodService(MongodRole.FullCopy, port, 1, "r1", MongodLayout.Default);
        var server = await MongoTestServer.StartAsync(new MongoTestServerOptions
        {
            Port = port,
            ReplicaSetName = service.ReplicaSetName,
            RequireAuthorization = true,
            Users = users ?? new Dictionary<string, string>(),
        }, Ct);
        return (server, service);
    }

    private static MongoClient LoggedIn(MongoTestServer server, MongodCredentials credentials)
    {
        var settings = MongoClientSettings.FromConnectionString($"mongodb://127.0.0.1:{server.Port}/?directConnection=true");
        settings.Credential = MongoCredential.CreateCredential("admin", credentials.Username, credentials.Password);
        settings.ServerSelectionTimeout = TimeSpan.FromSeconds(5);
        return new MongoClient(settings);
    }

    private static Task<List<BsonDocument>> UsersAsync(MongoClient client) =>
        client.GetDatabase("admin").GetCollection<BsonDocument>("system.users").Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct);

    [Fact]
    public async Task First_start_creates_the_administrator_through_the_localhost_exception_and_it_reads_and_writes()
    {
        var (server, service) = await StartAsync();
        await using var _ = server;

        var ready = await Readiness.WaitAsync(service, Access, Administrator, TimeSpan.FromSeconds(10), Ct);

        Assert.True(ready.UserCreated);
        Assert.False(ready.Initiated);
        using var client = LoggedIn(server, Administrator);
        var data = client.GetDatabase("app").GetCollection<BsonDocument>("c");
        await data.InsertOneAsync(new BsonDocument { { "_id", 1 }, { "v", "written" } }, cancellationToken: Ct);
        Assert.Equal("written", (await data.Find(new BsonDocument("_id", 1)).SingleAsync(Ct))["v"].AsString);
        var user = Assert.Single(await UsersAsync(client));
        Assert.Equal("admin.wap-admin", user["_id"].AsString);
        Assert.Equal(new BsonArray { new BsonDocument { { "role", "root" }, { "db", "admin" } } }, user["roles"]);
    }

    [Fact]
    public async Task A_second_start_with_the_same_credentials_logs_in_and_creates_nothing()
    {
        var (server, service) = await StartAsync();
        await using var _ = server;
        await Readiness.WaitAsync(service, Access, Administrator, TimeSpan.FromSeconds(10), Ct);
        using var client = LoggedIn(server, Administrator);
        var before = await UsersAsync(client);

        var again = await Readiness.WaitAsync(service, Access, Administrator, TimeSpan.FromSeconds(10), Ct);

        Assert.False(again.UserCreated);
        Assert.False(again.Initiated);
        Assert.Equal(before, await UsersAsync(client));
    }

    [Fact]
    public async Task A_wrong_password_on_a_service_with_users_fails_naming_the_parameter_never_the_password()
    {
        var (server, service) = await StartAsync();
        await using var _ = server;
        await Readiness.WaitAsync(service, Access, Administrator, TimeSpan.FromSeconds(10), Ct);
        var wrong = Administrator with { Password = "wrong-Pa55word" };

        var error = await Assert.ThrowsAsync<MongodSetupException>(() => Readiness.WaitAsync(service, Access, wrong, TimeSpan.FromSeconds(10), Ct));

        Assert.Contains($"already has users and the credentials in the SSM parameter {Parameter} do not authenticate", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong.Password, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Password, error.ToString(), StringComparison.Ordinal);
        using var client = LoggedIn(server, Administrator);
        Assert.Single(await UsersAsync(client));
    }

    [Fact]
    public async Task Another_user_on_the_service_and_no_administrator_fails_the_same_way_and_creates_nobody()
    {
        var other = new MongodCredentials("someone-else", "their-Pa55word");
        var (server, service) = await StartAsync(new Dictionary<string, string> { [other.Username] = other.Password });
        await using var _ = server;

        var error = await Assert.ThrowsAsync<MongodSetupException>(() => Readiness.WaitAsync(service, Access, Administrator, TimeSpan.FromSeconds(10), Ct));

        Assert.Contains(Parameter, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, error.ToString(), StringComparison.Ordinal);
        using var client = LoggedIn(server, other);
        Assert.Empty(await UsersAsync(client));
    }
}
