using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Testing.Mongo;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>MongoDB's failCommand fail point, as tests set it on the test server and on a real server (enableTestCommands).</summary>
public sealed class FailCommandTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Commands_named_fail_a_number_of_times_only_on_the_namespace_given_then_run_again()
    {
        // Its own server: a fail point is global to the server.
        await using var endpoint = await MongoEndpoint.StartAsync(options: new MongoTestServerOptions(), cancellationToken: Ct);
        endpoint.RequireTestServer("a private server, so the fail point meets no other test's commands");
        using var client = new MongoClient(endpoint.ConnectionString + (endpoint.ConnectionString.Contains('?') ? "&" : "?") + "retryWrites=false");
        var db = client.GetDatabase(MongoEndpoint.UniqueDatabaseName("fp"));
        var target = db.GetCollection<BsonDocument>("target");
        var other = db.GetCollection<BsonDocument>("other");
        await client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument
        {
            { "configureFailPoint", "failCommand" }, { "mode", new BsonDocument("times", 2) },
            { "data", new BsonDocument { { "failCommands", new BsonArray { "insert" } }, { "namespace", $"{db.DatabaseNamespace.DatabaseName}.target" }, { "errorCode", 8 } } },
        }, cancellationToken: Ct);

        await other.InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct); // another namespace: not failed, not counted
        for (int i = 0; i < 2; i++)
        {
            var error = await Assert.ThrowsAnyAsync<MongoException>(() => target.InsertOneAsync(new BsonDocument("_id", 10 + i), cancellationToken: Ct));
            Assert.Contains("failCommand", error.Message, StringComparison.Ordinal);
        }
        await target.InsertOneAsync(new BsonDocument("_id", 12), cancellationToken: Ct); // times used up

        Assert.Equal([12], (await target.Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct)).Select(d => d["_id"].AsInt32));
        Assert.Equal(1, await other.CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));
    }

    [Fact]
    public async Task Mode_off_disarms_the_fail_point()
    {
        await using var endpoint = await MongoEndpoint.StartAsync(options: new MongoTestServerOptions(), cancellationToken: Ct);
        endpoint.RequireTestServer("a private server, so the fail point meets no other test's commands");
        using var client = new MongoClient(endpoint.ConnectionString + (endpoint.ConnectionString.Contains('?') ? "&" : "?") + "retryWrites=false");
        var admin = client.GetDatabase("admin");
        await admin.RunCommandAsync<BsonDocument>(new BsonDocument
        {
            { "configureFailPoint", "failCommand" }, { "mode", "alwaysOn" },
            { "data", new BsonDocument { { "failCommands", new BsonArray { "insert" } }, { "errorCode", 8 } } },
        }, cancellationToken: Ct);
        var coll = client.GetDatabase(MongoEndpoint.UniqueDatabaseName("fp")).GetCollection<BsonDocument>("c");
        await Assert.ThrowsAnyAsync<MongoException>(() => coll.InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct));

        await admin.RunCommandAsync<BsonDocument>(new BsonDocument { { "configureFailPoint", "failCommand" }, { "mode", "off" } }, cancellationToken: Ct);
        await coll.InsertOneAsync(new BsonDocument("_id", 2), cancellationToken: Ct);

        Assert.Equal(1, await coll.CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));
    }

    [Fact]
    public async Task Block_connection_holds_the_named_getMore_of_one_namespace_then_runs_it()
    {
        await using var endpoint = await MongoEndpoint.StartAsync(options: new MongoTestServerOptions(), cancellationToken: Ct);
        endpoint.RequireTestServer("a private server, so the fail point meets no other test's commands");
        using var client = new MongoClient(endpoint.ConnectionString);
        var db = client.GetDatabase(MongoEndpoint.UniqueDatabaseName("fp"));
        var slow = db.GetCollection<BsonDocument>("slow");
        var other = db.GetCollection<BsonDocument>("other");
        await slow.InsertManyAsync(Enumerable.Range(0, 10).Select(i => new BsonDocument("_id", i)), cancellationToken: Ct);
        await other.InsertManyAsync(Enumerable.Range(0, 10).Select(i => new BsonDocument("_id", i)), cancellationToken: Ct);
        await client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument
        {
            { "configureFailPoint", "failCommand" }, { "mode", new BsonDocument("times", 1) },
            { "data", new BsonDocument { { "failCommands", new BsonArray { "getMore" } }, { "namespace", $"{db.DatabaseNamespace.DatabaseName}.slow" }, { "blockConnection", true }, { "blockTimeMS", 4_000 } } },
        }, cancellationToken: Ct);

        // Batches of 2: the find answers at once, its first getMore waits.
        var blocked = slow.Find(FilterDefinition<BsonDocument>.Empty, new FindOptions { BatchSize = 2 }).ToListAsync(Ct);
        // Another namespace's getMores are not held, so this ends while the blocked one still waits.
        var others = await other.Find(FilterDefinition<BsonDocument>.Empty, new FindOptions { BatchSize = 2 }).ToListAsync(Ct);
        Assert.Equal(10, others.Count);
        Assert.False(blocked.IsCompleted, "the getMore on the blocked namespace did not wait");

        // Then it runs: every document, in order.
        Assert.Equal(Enumerable.Range(0, 10), (await blocked).Select(d => d["_id"].AsInt32));

        var bad = await Assert.ThrowsAsync<MongoCommandException>(() => client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument
        {
            { "configureFailPoint", "failCommand" }, { "mode", "alwaysOn" },
            { "data", new BsonDocument { { "failCommands", new BsonArray { "find" } }, { "blockConnection", true } } },
        }, cancellationToken: Ct));
        Assert.Contains("blockTimeMS", bad.Message, StringComparison.Ordinal);
    }
}
