using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Testing.Mongo;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>
/// <c>createUser</c> and mongod's localhost exception (<see cref="MongoTestServerOptions.RequireAuthorization"/>): with
/// authorization on and no user yet, an unauthenticated connection may create the first user on admin and nothing else;
/// the user is stored as SCRAM-SHA-256 credentials and logs in; after it the exception is closed. Each test has its own
/// server: authorization is server-wide.
/// </summary>
public sealed class LocalhostExceptionTests
{
    private const string Password = "first-Pa55word";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static BsonDocument CreateUser(string name, string password) => new()
    {
        { "createUser", name },
        { "pwd", password },
        { "roles", new BsonArray { new BsonDocument { { "role", "root" }, { "db", "admin" } } } },
    };

    private static MongoClient Client(Testing.Mongo.MongoTestServer server, string? user = null, string? password = null)
    {
        var settings = MongoClientSettings.FromConnectionString($"mongodb://127.0.0.1:{server.Port}/?directConnection=true");
        settings.ServerSelectionTimeout = TimeSpan.FromSeconds(5);
        if (user is not null)
        {
            settings.Credential = MongoCredential.CreateCredential("admin", user, password);
        }
        return new MongoClient(settings);
    }

    private static Task<Testing.Mongo.MongoTestServer> StartAsync(MongoTestServerOptions? options = null) =>
        Testing.Mongo.MongoTestServer.StartAsync(options ?? new MongoTestServerOptions { RequireAuthorization = true }, Ct);

    [Fact]
    public async Task Without_users_an_unauthenticated_connection_may_create_the_first_user_on_admin_and_nothing_else()
    {
        await using var server = await StartAsync();
        using var anonymous = Client(server);
        var admin = anonymous.GetDatabase("admin");

        var read = await Assert.ThrowsAsync<MongoCommandException>(() => anonymous.GetDatabase("app").GetCollection<BsonDocument>("c").Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct));
        Assert.Equal(13, read.Code);
        var elsewhere = await Assert.ThrowsAsync<MongoCommandException>(() => anonymous.GetDatabase("app").RunCommandAsync<BsonDocument>(CreateUser("app-user", Password), cancellationToken: Ct));
        Assert.Equal(13, elsewhere.Code);

        var created = await admin.RunCommandAsync<BsonDocument>(CreateUser("wap-admin", Password), cancellationToken: Ct);

        Assert.Equal(1.0, created["ok"].ToDouble());
        using var administrator = Client(server, "wap-admin", Password);
        var data = administrator.GetDatabase("app").GetCollection<BsonDocument>("c");
        await data.InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct);
        Assert.Equal(1, await data.CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));
    }

    [Fact]
    public async Task The_exception_closes_after_the_first_user_a_second_unauthenticated_createUser_is_Unauthorized()
    {
        await using var server = await StartAsync();
        using var anonymous = Client(server);
        var admin = anonymous.GetDatabase("admin");
        await admin.RunCommandAsync<BsonDocument>(CreateUser("wap-admin", Password), cancellationToken: Ct);

        var second = await Assert.ThrowsAsync<MongoCommandException>(() => admin.RunCommandAsync<BsonDocument>(CreateUser("intruder", "intruder-Pa55word"), cancellationToken: Ct));

        Assert.Equal(13, second.Code);
        Assert.Equal("Unauthorized", second.CodeName);
        using var administrator = Client(server, "wap-admin", Password);
        var users = await administrator.GetDatabase("admin").GetCollection<BsonDocument>("system.users").Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct);
        Assert.Equal(["admin.wap-admin"], users.Select(u => u["_id"].AsString));
    }

    [Fact]
    public async Task Option_users_close_the_exception_from_the_start()
    {
        await using var server = await StartAsync(new MongoTestServerOptions { Users = new Dictionary<string, string> { ["configured"] = "configured-Pa55word" } });
        using var anonymous = Client(server);

        var refused = await Assert.ThrowsAsync<MongoCommandException>(() => anonymous.GetDatabase("admin").RunCommandAsync<BsonDocument>(CreateUser("wap-admin", Password), cancellationToken: Ct));

        Assert.Equal(13, refused.Code);
    }

    [Fact]
    public async Task CreateUser_stores_scram_sha_256_credentials_as_mongod_does_never_the_password_and_logs_the_insert()
    {
        await using var server = await StartAsync();
        using var anonymous = Client(server);
        await anonymous.GetDatabase("admin").RunCommandAsync<BsonDocument>(CreateUser("wap-admin", Password), cancellationToken: Ct);
        using var administrator = Client(server, "wap-admin", Password);

        var user = await administrator.GetDatabase("admin").GetCollection<BsonDocument>("system.users").Find(new BsonDocument("_id", "admin.wap-admin")).SingleAsync(Ct);
        var entry = await administrator.GetDatabase("local").GetCollection<BsonDocument>("oplog.rs").Find(new BsonDocument { { "op", "i" }, { "ns", "admin.system.users" } }).SingleAsync(Ct);

        Assert.Equal(["_id", "userId", "user", "db", "credentials", "roles"], user.Names);
        Assert.Equal(BsonBinarySubType.UuidStandard, user["userId"].AsBsonBinaryData.SubType);
        Assert.Equal("wap-admin", user["user"].AsString);
        Assert.Equal("admin", user["db"].AsString);
        var scram = user["credentials"].AsBsonDocument;
        Assert.Equal(["SCRAM-SHA-256"], scram.Names);
        var stored = scram["SCRAM-SHA-256"].AsBsonDocument;
        Assert.Equal(["iterationCount", "salt", "storedKey", "serverKey"], stored.Names);
        Assert.Equal(15000, stored["iterationCount"].AsInt32);
        Assert.Equal(28, Convert.FromBase64String(stored["salt"].AsString).Length);
        Assert.Equal(32, Convert.FromBase64String(stored["storedKey"].AsString).Length);
        Assert.Equal(new BsonArray { new BsonDocument { { "role", "root" }, { "db", "admin" } } }, user["roles"]);
        Assert.Equal(user, entry["o"].AsBsonDocument);
        Assert.DoesNotContain(Password, user.ToJson(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateUser_refuses_a_duplicate_an_unknown_role_and_what_it_does_not_implement_without_echoing_the_password()
    {
        await using var server = await StartAsync();
        using var anonymous = Client(server);
        await anonymous.GetDatabase("admin").RunCommandAsync<BsonDocument>(CreateUser("wap-admin", Password), cancellationToken: Ct);
        using var administrator = Client(server, "wap-admin", Password);
        var admin = administrator.GetDatabase("admin");
        const string Other = "other-Pa55word";

        (BsonDocument Command, int Code)[] refused =
        [
            (CreateUser("wap-admin", Other), 51003),
            (new BsonDocument { { "createUser", "u2" }, { "pwd", Other }, { "roles", new BsonArray { "no-such-role" } } }, 31),
            (new BsonDocument { { "createUser", "u3" }, { "pwd", Other } }, 40414),
            (new BsonDocument { { "createUser", "u4" }, { "pwd", Other }, { "roles", new BsonArray() }, { "mechanisms", new BsonArray { "SCRAM-SHA-1" } } }, 238),
            (new BsonDocument { { "createUser", "u5" }, { "pwd", Other }, { "roles", new BsonArray() }, { "authenticationRestrictions", new BsonArray() } }, 238),
            (new BsonDocument { { "createUser", "u6" }, { "pwd", "pässword" }, { "roles", new BsonArray() } }, 238),
        ];

        foreach (var (command, code) in refused)
        {
            var error = await Assert.ThrowsAsync<MongoCommandException>(() => admin.RunCommandAsync<BsonDocument>(command, cancellationToken: Ct));
            Assert.True(code == error.Code, $"{command["createUser"]}: {error.Code} {error.Message}");
            Assert.DoesNotContain(Other, error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("pässword", error.Message, StringComparison.Ordinal);
        }
        Assert.Equal(["admin.wap-admin"], (await admin.GetCollection<BsonDocument>("system.users").Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct)).Select(u => u["_id"].AsString));
    }

    [Fact]
    public async Task A_logged_in_user_creates_users_on_any_database_and_they_log_in_there()
    {
        await using var server = await StartAsync(new MongoTestServerOptions { Users = new Dictionary<string, string> { ["configured"] = "configured-Pa55word" } });
        using var configured = Client(server, "configured", "configured-Pa55word");

        await configured.GetDatabase("app").RunCommandAsync<BsonDocument>(
            new BsonDocument { { "createUser", "reader" }, { "pwd", Password }, { "roles", new BsonArray { "read" } } }, cancellationToken: Ct);

        var settings = MongoClientSettings.FromConnectionString($"mongodb://127.0.0.1:{server.Port}/?directConnection=true");
        settings.Credential = MongoCredential.CreateCredential("app", "reader", Password);
        using var reader = new MongoClient(settings);
        await reader.GetDatabase("app").RunCommandAsync<BsonDocument>(new BsonDocument("ping", 1), cancellationToken: Ct);
        var user = await configured.GetDatabase("admin").GetCollection<BsonDocument>("system.users").Find(new BsonDocument("_id", "app.reader")).SingleAsync(Ct);
        Assert.Equal(new BsonArray { new BsonDocument { { "role", "read" }, { "db", "app" } } }, user["roles"]);
    }
}
