using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Restore.UsersAndRoles;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Ports;

namespace WapBackup.Ddt.Host.Tests.Restore;

/// <summary>
/// <c>ddt restore --users-and-roles</c> on the test server (its <c>_mergeAuthzCollections</c>): users and roles come back
/// only when asked, an existing one is refused without drop, and drop makes the target's the snapshot's.
/// The restored user logs in on the target with its password (the test server's SCRAM-SHA-256 reads the restored
/// <c>admin.system.users</c> credentials, as mongod does).
/// </summary>
public sealed class UsersAndRolesTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly BsonDocument Reader = new() { { "_id", "app.reader" }, { "userId", new BsonBinaryData(Guid.Parse("0c4c7d6b-86c5-4b5e-9d0a-5d1f5a4f1e01"), GuidRepresentation.Standard) }, { "user", "reader" }, { "db", "app" }, { "credentials", new BsonDocument("SCRAM-SHA-256", ScramCredentials(ReaderPassword)) }, { "roles", new BsonArray { new BsonDocument { { "role", "auditor" }, { "db", "app" } } } } };
    private static readonly BsonDocument Auditor = new() { { "_id", "app.auditor" }, { "role", "auditor" }, { "db", "app" }, { "privileges", new BsonArray { new BsonDocument { { "resource", new BsonDocument { { "db", "app" }, { "collection", "" } } }, { "actions", new BsonArray { "find" } } } } }, { "roles", new BsonArray() } };

    private const string ReaderPassword = "reader-Pa55word";

    /// <summary>SCRAM-SHA-256 credentials as createUser writes them (RFC 5802 salted password, 15,000 iterations): the restored user logs in with its password.</summary>
    private static BsonDocument ScramCredentials(string password)
    {
        byte[] salt = System.Text.Encoding.ASCII.GetBytes("wap-backup-test-salt-28bytes");
        byte[] salted = System.Security.Cryptography.Rfc2898DeriveBytes.Pbkdf2(System.Text.Encoding.UTF8.GetBytes(password), salt, 15000, System.Security.Cryptography.HashAlgorithmName.SHA256, 32);
        byte[] storedKey = System.Security.Cryptography.SHA256.HashData(System.Security.Cryptography.HMACSHA256.HashData(salted, "Client Key"u8));
        byte[] serverKey = System.Security.Cryptography.HMACSHA256.HashData(salted, "Server Key"u8);
        return new BsonDocument { { "iterationCount", 15000 }, { "salt", Convert.ToBase64String(salt) }, { "storedKey", Convert.ToBase64String(storedKey) }, { "serverKey", Convert.ToBase64String(serverKey) } };
    }

    /// <summary>Logs in to the target as app.reader and runs ping; the driver's SCRAM-SHA-256 conversation against the stored credentials.</summary>
    private static async Task LogInAsReaderAsync(RestoreHarness h, string password)
    {
        var settings = MongoClientSettings.FromConnectionString(h.TargetUri);
        settings.Credential = MongoCredential.CreateCredential("app", "reader", password);
        using var client = new MongoClient(settings);
        await client.GetDatabase("app").RunCommandAsync<BsonDocument>(new BsonDocument("ping", 1), cancellationToken: Ct);
    }

    private static void RequireTestServer()
    {
        if (new[] { "MONGODB_URI", "MONGODB_URI_3" }.Any(v => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v))))
        {
            Assert.Skip("writes admin.system.users directly, which only the test server allows; a real cluster needs users made by createUser");
        }
    }

    private static IMongoCollection<BsonDocument> Authz(IMongoClient client, string name) => client.GetDatabase("admin").GetCollection<BsonDocument>(name);

    private static async Task<List<string>> AllAsync(IMongoClient client, string name) =>
        [.. (await Authz(client, name).Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct)).Select(d => d.ToJson())];

    /// <summary>A harness whose source has a user, a role and the auth schema version, and a snapshot of admin and shop uploaded.</summary>
    private async Task<(RestoreHarness H, string SnapshotId)> StartAsync()
    {
        RequireTestServer();
        var h = await RestoreHarness.StartAsync(s3);
        await Authz(h.SourceClient, "system.users").InsertOneAsync(Reader, cancellationToken: Ct);
        await Authz(h.SourceClient, "system.roles").InsertOneAsync(Auditor, cancellationToken: Ct);
        await Authz(h.SourceClient, "system.version").InsertOneAsync(new BsonDocument { { "_id", "authSchema" }, { "currentVersion", 5 } }, cancellationToken: Ct);
        var snapshot = await TestSnapshot.WriteAsync(h.SourceClient, ["admin", "shop"], new OplogTimestamp(1_795_000_100, 1), Ct, h.Repository.Id, h.Repository.Policy.Storage.Prefix);
        snapshot = snapshot with { Manifest = snapshot.Manifest with { UsersAndRoles = true } };
        await snapshot.UploadAsync(h.Store, h.Repository.Policy.Storage.Prefix, Ct);
        return (h, snapshot.Manifest.SnapshotId);
    }

    [Fact]
    public async Task Restore_without_users_and_roles_leaves_the_target_users_untouched()
    {
        var (h, snapshotId) = await StartAsync();
        await using var _ = h;
        var other = new BsonDocument { { "_id", "app.other" }, { "user", "other" }, { "db", "app" } };
        await Authz(h.TargetClient, "system.users").InsertOneAsync(other, cancellationToken: Ct);

        var (exit, result) = await h.RunAsync("restore", "--snapshot", snapshotId, "--drop");

        Assert.True(exit == 0, $"exit {exit}: {result}");
        Assert.Equal([other.ToJson()], await AllAsync(h.TargetClient, "system.users"));
        Assert.Empty(await AllAsync(h.TargetClient, "system.roles"));
        await Assert.ThrowsAsync<MongoAuthenticationException>(() => LogInAsReaderAsync(h, ReaderPassword));
    }

    [Fact]
    public async Task Restore_with_users_and_roles_brings_them_back_and_leaves_no_temporary_collection()
    {
        var (h, snapshotId) = await StartAsync();
        await using var _ = h;

        var (exit, result) = await h.RunAsync("restore", "--snapshot", snapshotId, "--users-and-roles");

        Assert.True(exit == 0, $"exit {exit}: {result}");
        Assert.Equal([Reader.ToJson()], await AllAsync(h.TargetClient, "system.users"));
        Assert.Equal([Auditor.ToJson()], await AllAsync(h.TargetClient, "system.roles"));
        var names = await (await h.TargetClient.GetDatabase("admin").ListCollectionNamesAsync(cancellationToken: Ct)).ToListAsync(Ct);
        Assert.DoesNotContain(names, n => n is UsersAndRolesRestorer.TempUsers or UsersAndRolesRestorer.TempRoles);
        Assert.Equal(await SnapshotLoaderTests.StateAsync(h.SourceClient, "shop"), await SnapshotLoaderTests.StateAsync(h.TargetClient, "shop"));
        // The restored credentials work: the user logs in on the target with its password, and not with another.
        await LogInAsReaderAsync(h, ReaderPassword);
        await Assert.ThrowsAsync<MongoAuthenticationException>(() => LogInAsReaderAsync(h, "not-" + ReaderPassword));
    }

    [Fact]
    public async Task Existing_user_without_drop_is_refused_naming_it_and_nothing_is_written()
    {
        var (h, snapshotId) = await StartAsync();
        await using var _ = h;
        var mine = new BsonDocument { { "_id", "app.reader" }, { "user", "reader" }, { "db", "app" }, { "note", "the target's own" } };
        await Authz(h.TargetClient, "system.users").InsertOneAsync(mine, cancellationToken: Ct);
        string before = await SnapshotLoaderTests.StateAsync(h.TargetClient, "shop");

        var (exit, result) = await h.RunAsync("restore", "--snapshot", snapshotId, "--users-and-roles", "--no-drop");

        Assert.Equal(2, exit);
        Assert.Equal("users-and-roles-exist", result.GetProperty("rule").GetString());
        Assert.Contains("user app.reader", result.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal([mine.ToJson()], await AllAsync(h.TargetClient, "system.users"));
        Assert.Equal(before, await SnapshotLoaderTests.StateAsync(h.TargetClient, "shop"));
        Assert.Empty((await h.Tasks.ListByRepositoryAsync(h.Repository.Id, new PageRequest(10, null), Ct)).Items);
    }

    [Fact]
    public async Task With_drop_the_target_users_and_roles_become_the_snapshots()
    {
        var (h, snapshotId) = await StartAsync();
        await using var _ = h;
        await Authz(h.TargetClient, "system.users").InsertManyAsync(
            [new BsonDocument { { "_id", "app.reader" }, { "user", "reader" }, { "db", "app" }, { "note", "stale" } }, new BsonDocument { { "_id", "app.other" }, { "user", "other" }, { "db", "app" } }], cancellationToken: Ct);
        await Authz(h.TargetClient, "system.roles").InsertOneAsync(new BsonDocument { { "_id", "app.writer" }, { "role", "writer" }, { "db", "app" } }, cancellationToken: Ct);

        var (exit, result) = await h.RunAsync("restore", "--snapshot", snapshotId, "--users-and-roles", "--drop");

        Assert.True(exit == 0, $"exit {exit}: {result}");
        Assert.Equal([Reader.ToJson()], await AllAsync(h.TargetClient, "system.users"));
        Assert.Equal([Auditor.ToJson()], await AllAsync(h.TargetClient, "system.roles"));
    }

    [Fact]
    public async Task A_snapshot_of_another_auth_schema_version_is_refused_before_anything_is_written()
    {
        var (h, snapshotId) = await StartAsync();
        await using var _ = h;
        await Authz(h.TargetClient, "system.version").InsertOneAsync(new BsonDocument { { "_id", "authSchema" }, { "currentVersion", 3 } }, cancellationToken: Ct);

        var (exit, result) = await h.RunAsync("restore", "--snapshot", snapshotId, "--users-and-roles", "--drop");

        Assert.Equal(2, exit);
        Assert.Equal("users-and-roles-auth-version", result.GetProperty("rule").GetString());
        Assert.Empty(await AllAsync(h.TargetClient, "system.users"));
    }
}
