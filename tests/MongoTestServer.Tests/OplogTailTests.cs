using MongoDB.Bson;
using MongoDB.Driver;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>The oplog as a capture engine reads it: ts-range finds and tailable awaitData cursors through the driver.</summary>
public sealed class OplogTailTests(SharedEndpoint shared)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AppendOplogNote_writes_a_noop_entry_whose_o_is_the_data()
    {
        var admin = shared.Client.GetDatabase("admin");
        var data = new BsonDocument { { "marker", Guid.NewGuid().ToString() }, { "n", 1 } };

        await admin.RunCommandAsync<BsonDocument>(new BsonDocument { { "appendOplogNote", 1 }, { "data", data } }, cancellationToken: Ct);

        var entry = await shared.Oplog.Find(new BsonDocument { { "op", "n" }, { "o.marker", data["marker"] } }).SingleAsync(Ct);
        Assert.Equal("", entry["ns"].AsString);
        Assert.Equal(data, entry["o"]);
        Assert.Equal(BsonType.Timestamp, entry["ts"].BsonType);
    }

    [Fact]
    public async Task AppendOplogNote_refuses_a_missing_or_non_document_data_field()
    {
        var admin = shared.Client.GetDatabase("admin");

        var missing = await Assert.ThrowsAsync<MongoCommandException>(() => admin.RunCommandAsync<BsonDocument>(new BsonDocument("appendOplogNote", 1), cancellationToken: Ct));
        var wrongType = await Assert.ThrowsAsync<MongoCommandException>(() => admin.RunCommandAsync<BsonDocument>(new BsonDocument { { "appendOplogNote", 1 }, { "data", 5 } }, cancellationToken: Ct));

        Assert.Equal(4, missing.Code); // NoSuchKey
        Assert.Equal(14, wrongType.Code); // TypeMismatch
    }

    [Fact]
    public async Task Writes_appear_in_the_oplog_with_the_server_shapes()
    {
        var db = shared.NewDatabase("oplog");
        var coll = db.GetCollection<BsonDocument>("c");
        var start = await shared.LastTimestampAsync();

        await coll.InsertOneAsync(new BsonDocument { { "_id", 1 }, { "a", 1 }, { "arr", new BsonArray { 1, 2, 3 } } }, cancellationToken: Ct);
        await coll.UpdateOneAsync(new BsonDocument("_id", 1), new BsonDocument("$set", new BsonDocument("b", "new")), cancellationToken: Ct);
        await coll.ReplaceOneAsync(new BsonDocument("_id", 1), new BsonDocument("r", 1), cancellationToken: Ct);
        await coll.DeleteOneAsync(new BsonDocument("_id", 1), Ct);
        await db.DropCollectionAsync("c", Ct);

        var entries = await shared.OplogOfAsync(db.DatabaseNamespace.DatabaseName, start);
        string ns = coll.CollectionNamespace.FullName;
        Assert.Equal(["c", "i", "u", "u", "d", "c"], entries.Select(e => e["op"].AsString));
        Assert.Equal("create", entries[0]["o"].AsBsonDocument.GetElement(0).Name);
        Assert.Equal(ns, entries[1]["ns"].AsString);
        Assert.Equal(new BsonDocument { { "_id", 1 }, { "a", 1 }, { "arr", new BsonArray { 1, 2, 3 } } }, entries[1]["o"]);
        Assert.Equal(new BsonDocument { { "$v", 2 }, { "diff", new BsonDocument("i", new BsonDocument("b", "new")) } }, entries[2]["o"]);
        Assert.Equal(new BsonDocument("_id", 1), entries[2]["o2"]);
        Assert.Equal(new BsonDocument { { "_id", 1 }, { "r", 1 } }, entries[3]["o"]);
        Assert.Equal(new BsonDocument("_id", 1), entries[4]["o"]);
        Assert.Equal(new BsonDocument("drop", "c"), entries[5]["o"]);
        foreach (var e in entries)
        {
            Assert.Equal(BsonType.Timestamp, e["ts"].BsonType);
            Assert.Equal(BsonType.Int64, e["t"].BsonType);
            Assert.Equal(2L, e["v"].AsInt64);
            Assert.Equal(BsonType.DateTime, e["wall"].BsonType);
            Assert.Equal(BsonBinarySubType.UuidStandard, e["ui"].AsBsonBinaryData.SubType);
        }
        var ts = entries.Select(e => e["ts"].AsBsonTimestamp.Value).ToList();
        Assert.Equal(ts.Order(), ts);
        Assert.Equal(ts.Count, ts.Distinct().Count());
    }

    [Fact]
    public async Task Tailable_await_cursor_from_a_checkpoint_sees_later_writes()
    {
        var db = shared.NewDatabase("tail");
        var coll = db.GetCollection<BsonDocument>("c");
        await coll.InsertOneAsync(new BsonDocument("_id", 0), cancellationToken: Ct);
        var checkpoint = await shared.InsertTimestampAsync(coll.CollectionNamespace.FullName, 0);
        var options = new FindOptions<BsonDocument>
        {
            CursorType = CursorType.TailableAwait,
            MaxAwaitTime = TimeSpan.FromMilliseconds(200),
            BatchSize = 2,
        };

        using var cursor = await shared.Oplog.FindAsync(new BsonDocument("ts", new BsonDocument("$gte", checkpoint)), options, Ct);
        var writer = Task.Run(async () =>
        {
            for (int i = 1; i <= 5; i++)
            {
                await coll.InsertOneAsync(new BsonDocument("_id", i), cancellationToken: Ct);
            }
        }, Ct);
        var seen = new List<BsonDocument>();
        while (seen.Count(e => e["ns"] == coll.CollectionNamespace.FullName) < 6 && await cursor.MoveNextAsync(Ct))
        {
            seen.AddRange(cursor.Current);
        }
        await writer;

        Assert.Equal(checkpoint, seen[0]["ts"].AsBsonTimestamp);
        // The checkpoint entry itself (the insert of 0) comes first, then the later writes in order.
        Assert.Equal([0, 1, 2, 3, 4, 5], seen.Where(e => e["ns"] == coll.CollectionNamespace.FullName && e["op"] == "i").Select(e => e["o"]["_id"].AsInt32));
    }

    [Fact]
    public async Task Ts_range_find_returns_entries_after_the_bound_in_order()
    {
        var db = shared.NewDatabase("range");
        var coll = db.GetCollection<BsonDocument>("c");
        await coll.InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct);
        var middle = await shared.InsertTimestampAsync(coll.CollectionNamespace.FullName, 1);
        await coll.InsertOneAsync(new BsonDocument("_id", 2), cancellationToken: Ct);

        var after = await shared.Oplog.Find(new BsonDocument { { "ts", new BsonDocument("$gt", middle) }, { "ns", coll.CollectionNamespace.FullName } }).ToListAsync(Ct);
        var from = await shared.Oplog.Find(new BsonDocument { { "ts", new BsonDocument("$gte", middle) }, { "ns", coll.CollectionNamespace.FullName } }).ToListAsync(Ct);

        Assert.Equal([2], after.Select(e => e["o"]["_id"].AsInt32));
        Assert.Equal([1, 2], from.Select(e => e["o"]["_id"].AsInt32));
    }
}
