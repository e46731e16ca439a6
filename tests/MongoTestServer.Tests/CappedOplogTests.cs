using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Testing.Mongo;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>Oplog rollover: a tiny capped oplog (test-server knob) drops old entries; a tailing cursor that fell behind dies with CappedPositionLost.</summary>
public sealed class CappedOplogTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Cursor_that_fell_behind_gets_CappedPositionLost_and_the_oldest_entry_moves_past_the_checkpoint()
    {
        await using var endpoint = await MongoEndpoint.StartAsync(options: new MongoTestServerOptions { OplogMaxBytes = 8 * 1024 }, cancellationToken: Ct);
        endpoint.RequireTestServer("a tiny OplogMaxBytes forces a rollover");
        using var client = new MongoClient(endpoint.ConnectionString);
        var coll = client.GetDatabase("roll").GetCollection<BsonDocument>("c");
        var oplog = client.GetDatabase("local").GetCollection<BsonDocument>("oplog.rs");
        await coll.InsertOneAsync(new BsonDocument("_id", 0), cancellationToken: Ct);
        var checkpoint = (await oplog.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("$natural", -1)).FirstAsync(Ct))["ts"].AsBsonTimestamp;
        using var cursor = await oplog.FindAsync(new BsonDocument("ts", new BsonDocument("$gte", checkpoint)),
            new FindOptions<BsonDocument> { CursorType = CursorType.TailableAwait, BatchSize = 1, MaxAwaitTime = TimeSpan.FromMilliseconds(50) }, Ct);
        Assert.True(await cursor.MoveNextAsync(Ct));
        Assert.Equal(checkpoint, cursor.Current.Single()["ts"].AsBsonTimestamp);

        await coll.InsertManyAsync(Enumerable.Range(1, 200).Select(i => new BsonDocument { { "_id", i }, { "pad", new string('p', 100) } }), cancellationToken: Ct);

        var lost = await Assert.ThrowsAsync<MongoCommandException>(async () => await cursor.MoveNextAsync(Ct));
        Assert.Equal(136, lost.Code);
        var oldest = (await oplog.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("$natural", 1)).FirstAsync(Ct))["ts"].AsBsonTimestamp;
        Assert.True(oldest.CompareTo(checkpoint) > 0);
        Assert.Empty(await oplog.Find(new BsonDocument("ts", checkpoint)).ToListAsync(Ct));
    }

    [Fact]
    public async Task Noop_entries_on_demand_have_the_periodic_noop_shape()
    {
        await using var endpoint = await MongoEndpoint.StartAsync(cancellationToken: Ct);
        var server = endpoint.RequireTestServer("AppendNoopAsync is a test-server call");
        using var client = new MongoClient(endpoint.ConnectionString);

        await server.AppendNoopAsync("periodic noop", Ct);

        var entry = await client.GetDatabase("local").GetCollection<BsonDocument>("oplog.rs").Find(new BsonDocument("op", "n")).SingleAsync(Ct);
        Assert.Equal(["op", "ns", "o", "ts", "t", "v", "wall"], entry.Names);
        Assert.Equal("", entry["ns"].AsString);
        Assert.Equal(new BsonDocument("msg", "periodic noop"), entry["o"]);
    }
}
