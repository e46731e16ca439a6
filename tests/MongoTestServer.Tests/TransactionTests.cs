using MongoDB.Bson;
using MongoDB.Driver;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>Sessions and multi-document transactions through the driver, and their oplog entries.</summary>
[Collection(TransactionCollection.Name)]
public sealed class TransactionTests(SharedEndpoint shared)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Committed_transaction_is_one_applyOps_entry_with_lsid_and_txnNumber()
    {
        var db = shared.NewDatabase("txn");
        var coll = db.GetCollection<BsonDocument>("c");
        await db.CreateCollectionAsync("c", cancellationToken: Ct);
        var start = await shared.LastTimestampAsync();

        using (var session = await shared.Client.StartSessionAsync(cancellationToken: Ct))
        {
            session.StartTransaction();
            await coll.InsertOneAsync(session, new BsonDocument { { "_id", 1 }, { "a", 1 } }, cancellationToken: Ct);
            await coll.UpdateOneAsync(session, new BsonDocument("_id", 1), new BsonDocument("$set", new BsonDocument("a", 2)), cancellationToken: Ct);
            await coll.InsertOneAsync(session, new BsonDocument("_id", 2), cancellationToken: Ct);
            await session.CommitTransactionAsync(Ct);
        }

        // Other tests commit transactions in parallel: only entries touching this test's collection count.
        var entries = await shared.Oplog.Find(new BsonDocument { { "ts", new BsonDocument("$gt", start) }, { "o.applyOps.ns", coll.CollectionNamespace.FullName } }).ToListAsync(Ct);
        var entry = Assert.Single(entries);
        Assert.Equal("admin.$cmd", entry["ns"].AsString);
        Assert.Equal(BsonType.Binary, entry["lsid"]["id"].BsonType);
        Assert.Equal(BsonType.Int64, entry["txnNumber"].BsonType);
        Assert.Equal(new BsonDocument { { "ts", new BsonTimestamp(0) }, { "t", -1L } }, entry["prevOpTime"]);
        Assert.Equal(["i", "u", "i"], entry["o"]["applyOps"].AsBsonArray.Select(o => o["op"].AsString));
        Assert.False(entry["o"].AsBsonDocument.Contains("partialTxn"));
        Assert.Equal(new BsonDocument { { "_id", 1 }, { "a", 2 } }, await coll.Find(new BsonDocument("_id", 1)).SingleAsync(Ct));
    }

    [Fact]
    public async Task Aborted_transaction_discards_its_writes_and_logs_nothing()
    {
        var db = shared.NewDatabase("txnabort");
        var coll = db.GetCollection<BsonDocument>("c");
        await coll.InsertOneAsync(new BsonDocument { { "_id", 1 }, { "a", 1 } }, cancellationToken: Ct);
        var start = await shared.LastTimestampAsync();

        using (var session = await shared.Client.StartSessionAsync(cancellationToken: Ct))
        {
            session.StartTransaction();
            await coll.UpdateOneAsync(session, new BsonDocument("_id", 1), new BsonDocument("$set", new BsonDocument("a", 9)), cancellationToken: Ct);
            await coll.DeleteOneAsync(session, new BsonDocument("_id", 1), cancellationToken: Ct);
            await coll.InsertOneAsync(session, new BsonDocument("_id", 2), cancellationToken: Ct);
            await session.AbortTransactionAsync(Ct);
        }

        var docs = await coll.Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct);
        Assert.Equal([new BsonDocument { { "_id", 1 }, { "a", 1 } }], docs);
        Assert.Empty(await shared.OplogOfAsync(db.DatabaseNamespace.DatabaseName, start));
        Assert.Empty(await shared.Oplog.Find(new BsonDocument { { "ts", new BsonDocument("$gt", start) }, { "o.applyOps.ns", coll.CollectionNamespace.FullName } }).ToListAsync(Ct));
    }

    [Fact]
    public async Task Large_transaction_is_a_partialTxn_chain_linked_by_prevOpTime()
    {
        await using var endpoint = await Testing.Mongo.MongoEndpoint.StartAsync(options: new Testing.Mongo.MongoTestServerOptions { TransactionOplogEntryMaxBytes = 1000 }, cancellationToken: Ct);
        endpoint.RequireTestServer("a small TransactionOplogEntryMaxBytes forces a partialTxn chain");
        using var client = new MongoClient(endpoint.ConnectionString);
        var coll = client.GetDatabase("big").GetCollection<BsonDocument>("c");
        await client.GetDatabase("big").CreateCollectionAsync("c", cancellationToken: Ct);

        using (var session = await client.StartSessionAsync(cancellationToken: Ct))
        {
            session.StartTransaction();
            for (int i = 0; i < 30; i++)
            {
                await coll.InsertOneAsync(session, new BsonDocument { { "_id", i }, { "pad", new string('x', 100) } }, cancellationToken: Ct);
            }
            await session.CommitTransactionAsync(Ct);
        }

        var chain = await client.GetDatabase("local").GetCollection<BsonDocument>("oplog.rs")
            .Find(new BsonDocument("o.applyOps", new BsonDocument("$exists", true))).ToListAsync(Ct);
        Assert.True(chain.Count > 2);
        Assert.All(chain[..^1], e => Assert.True(e["o"]["partialTxn"].AsBoolean));
        Assert.False(chain[^1]["o"].AsBsonDocument.Contains("partialTxn"));
        Assert.Equal(30L, chain[^1]["o"]["count"].AsInt64);
        Assert.Equal(new BsonTimestamp(0), chain[0]["prevOpTime"]["ts"].AsBsonTimestamp);
        for (int i = 1; i < chain.Count; i++)
        {
            Assert.Equal(chain[i - 1]["ts"], chain[i]["prevOpTime"]["ts"]);
        }
        Assert.Equal(Enumerable.Range(0, 30), chain.SelectMany(e => e["o"]["applyOps"].AsBsonArray).Select(o => o["o"]["_id"].AsInt32));
    }
}
