using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Testing.Mongo;

namespace WapBackup.MongoTestServer.Tests;

public sealed class SmokeTests
{
    [Fact]
    public async Task Driver_inserts_and_finds()
    {
        await using var endpoint = await MongoEndpoint.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        var client = new MongoClient(endpoint.ConnectionString);
        var db = client.GetDatabase(MongoEndpoint.UniqueDatabaseName("smoke"));
        var coll = db.GetCollection<BsonDocument>("c");
        await coll.InsertOneAsync(new BsonDocument { { "_id", 1 }, { "a", 5 } }, cancellationToken: TestContext.Current.CancellationToken);
        var found = await coll.Find(new BsonDocument("a", new BsonDocument("$gt", 3))).ToListAsync(TestContext.Current.CancellationToken);
        Assert.Single(found);
        Assert.Equal(5, found[0]["a"].AsInt32);
    }
}
