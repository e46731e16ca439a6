using MongoDB.Bson;
using MongoDB.Driver;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>MongoDB.Driver CRUD and cursors; written to pass against a real replica set too.</summary>
public sealed class CrudTests(SharedEndpoint shared)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Strings_compare_as_utf8_bytes_in_sorts_and_ranges()
    {
        // U+FF21 (EF BC A1) sorts before U+1F600 (F0 9F 98 80) in UTF-8, after it in UTF-16 code units.
        var coll = shared.NewDatabase("utf8").GetCollection<BsonDocument>("c");
        await coll.InsertManyAsync(
        [
            new BsonDocument { { "_id", 1 }, { "s", "\U0001F600" } },
            new BsonDocument { { "_id", 2 }, { "s", "\uFF21" } },
            new BsonDocument { { "_id", 3 }, { "s", "z" } },
        ], cancellationToken: Ct);

        var sorted = await coll.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("s", 1)).ToListAsync(Ct);
        var above = await coll.Find(new BsonDocument("s", new BsonDocument("$gt", "\uFF21"))).ToListAsync(Ct);

        Assert.Equal([3, 2, 1], sorted.Select(d => d["_id"].AsInt32));
        Assert.Equal([1], above.Select(d => d["_id"].AsInt32));
    }

    [Fact]
    public async Task Filters_with_comparison_operators_sort_skip_limit()
    {
        var coll = shared.NewDatabase("crud").GetCollection<BsonDocument>("c");
        await coll.InsertManyAsync(Enumerable.Range(0, 20).Select(i => new BsonDocument { { "_id", i }, { "n", i % 7 }, { "s", $"x{i:00}" } }), cancellationToken: Ct);

        var found = await coll.Find(new BsonDocument("n", new BsonDocument { { "$gte", 2 }, { "$lt", 5 } }))
            .Sort(new BsonDocument { { "n", -1 }, { "_id", 1 } }).Skip(1).Limit(4).ToListAsync(Ct);

        Assert.Equal([11, 18, 3, 10], found.Select(d => d["_id"].AsInt32));
        Assert.Equal(3, await coll.CountDocumentsAsync(new BsonDocument("n", 0), cancellationToken: Ct));
        var inNin = await coll.Find(new BsonDocument { { "n", new BsonDocument("$in", new BsonArray { 1, 6 }) }, { "_id", new BsonDocument("$nin", new BsonArray { 1 }) } }).ToListAsync(Ct);
        Assert.Equal([6, 8, 13, 15], inNin.Select(d => d["_id"].AsInt32).Order());
        var orNot = await coll.Find(new BsonDocument("$or", new BsonArray
        {
            new BsonDocument("s", "x03"),
            new BsonDocument("n", new BsonDocument("$not", new BsonDocument("$lte", 5))),
        })).ToListAsync(Ct);
        Assert.Equal([3, 6, 13], orNot.Select(d => d["_id"].AsInt32).Order());
    }

    [Fact]
    public async Task Small_batches_page_through_getMore()
    {
        var coll = shared.NewDatabase("crud").GetCollection<BsonDocument>("c");
        await coll.InsertManyAsync(Enumerable.Range(0, 250).Select(i => new BsonDocument("_id", i)), cancellationToken: Ct);

        var all = await coll.Find(FilterDefinition<BsonDocument>.Empty, new FindOptions { BatchSize = 7 }).ToListAsync(Ct);

        Assert.Equal(Enumerable.Range(0, 250), all.Select(d => d["_id"].AsInt32));
    }

    [Fact]
    public async Task Update_set_unset_replace_upsert_and_delete()
    {
        var coll = shared.NewDatabase("crud").GetCollection<BsonDocument>("c");
        await coll.InsertManyAsync([new BsonDocument { { "_id", 1 }, { "a", 1 }, { "b", 2 } }, new BsonDocument { { "_id", 2 }, { "a", 1 } }], cancellationToken: Ct);

        var many = await coll.UpdateManyAsync(new BsonDocument("a", 1), new BsonDocument { { "$set", new BsonDocument("c.d", 3) }, { "$unset", new BsonDocument("b", "") } }, cancellationToken: Ct);
        var replaced = await coll.ReplaceOneAsync(new BsonDocument("_id", 2), new BsonDocument("z", true), cancellationToken: Ct);
        var upsert = await coll.UpdateOneAsync(new BsonDocument("_id", 3), new BsonDocument("$inc", new BsonDocument("n", 5)), new UpdateOptions { IsUpsert = true }, Ct);
        var noop = await coll.UpdateOneAsync(new BsonDocument("_id", 1), new BsonDocument("$set", new BsonDocument("a", 1)), cancellationToken: Ct);

        Assert.Equal((2, 2), (many.MatchedCount, many.ModifiedCount));
        Assert.Equal(1, replaced.ModifiedCount);
        Assert.Equal(3, upsert.UpsertedId.AsInt32);
        Assert.Equal((1, 0), (noop.MatchedCount, noop.ModifiedCount));
        var docs = await coll.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct);
        Assert.Equal(new BsonDocument { { "_id", 1 }, { "a", 1 }, { "c", new BsonDocument("d", 3) } }, docs[0]);
        Assert.Equal(new BsonDocument { { "_id", 2 }, { "z", true } }, docs[1]);
        Assert.Equal(new BsonDocument { { "_id", 3 }, { "n", 5 } }, docs[2]);

        var deleted = await coll.DeleteManyAsync(new BsonDocument("_id", new BsonDocument("$lte", 2)), Ct);
        Assert.Equal(2, deleted.DeletedCount);
        Assert.Equal(1, await coll.CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));
    }

    [Fact]
    public async Task Timestamp_ids_insert_range_find_and_sort()
    {
        var coll = shared.NewDatabase("crud").GetCollection<BsonDocument>("entries");
        var ids = new[] { new BsonTimestamp(100, 2), new BsonTimestamp(100, 1), new BsonTimestamp(99, 7), new BsonTimestamp(101, 0) };
        await coll.InsertManyAsync(ids.Select(ts => new BsonDocument { { "_id", ts }, { "v", (long)ts.Value } }), cancellationToken: Ct);

        var range = await coll.Find(new BsonDocument("_id", new BsonDocument { { "$gt", new BsonTimestamp(99, 7) }, { "$lte", new BsonTimestamp(100, 2) } }))
            .Sort(new BsonDocument("_id", 1)).ToListAsync(Ct);
        var byId = await coll.Find(new BsonDocument("_id", new BsonTimestamp(101, 0))).ToListAsync(Ct);
        var desc = await coll.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", -1)).Limit(1).ToListAsync(Ct);

        Assert.Equal([new BsonTimestamp(100, 1), new BsonTimestamp(100, 2)], range.Select(d => d["_id"].AsBsonTimestamp));
        Assert.Single(byId);
        Assert.Equal(new BsonTimestamp(101, 0), desc[0]["_id"].AsBsonTimestamp);
    }

    [Fact]
    public async Task Duplicate_id_is_error_11000_and_ordered_insert_stops()
    {
        var coll = shared.NewDatabase("crud").GetCollection<BsonDocument>("c");
        await coll.InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct);

        var error = await Assert.ThrowsAsync<MongoBulkWriteException<BsonDocument>>(() =>
            coll.InsertManyAsync([new BsonDocument("_id", 2), new BsonDocument("_id", 1), new BsonDocument("_id", 3)], cancellationToken: Ct));

        Assert.Equal(11000, error.WriteErrors.Single().Code);
        Assert.Equal(1, error.WriteErrors.Single().Index);
        Assert.Equal(2, await coll.CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));
    }

    [Fact]
    public async Task Unknown_command_is_59_and_unknown_operator_is_2()
    {
        var db = shared.NewDatabase("crud");
        var unknownCommand = await Assert.ThrowsAsync<MongoCommandException>(() =>
            db.RunCommandAsync<BsonDocument>(new BsonDocument("frobnicate", 1), cancellationToken: Ct));
        var unknownOperator = await Assert.ThrowsAsync<MongoCommandException>(() =>
            db.GetCollection<BsonDocument>("c").Find(new BsonDocument("a", new BsonDocument("$frob", 1))).ToListAsync(Ct));

        Assert.Equal(59, unknownCommand.Code);
        Assert.Contains("frobnicate", unknownCommand.Message, StringComparison.Ordinal);
        Assert.Equal(2, unknownOperator.Code);
        Assert.Contains("$frob", unknownOperator.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_list_and_drop_collections_and_databases()
    {
        var db = shared.NewDatabase("ddl");
        await db.CreateCollectionAsync("capped", new CreateCollectionOptions { Capped = true, MaxSize = 4096 }, Ct);
        await db.GetCollection<BsonDocument>("plain").InsertOneAsync(new BsonDocument("x", 1), cancellationToken: Ct);

        var collections = await (await db.ListCollectionsAsync(cancellationToken: Ct)).ToListAsync(Ct);
        var databases = await (await shared.Client.ListDatabaseNamesAsync(Ct)).ToListAsync(Ct);
        var capped = collections.Single(c => c["name"] == "capped");

        Assert.Equal(["capped", "plain"], collections.Select(c => c["name"].AsString).Order());
        Assert.True(capped["options"]["capped"].AsBoolean);
        Assert.Equal(BsonBinarySubType.UuidStandard, capped["info"]["uuid"].AsBsonBinaryData.SubType);
        Assert.Contains(db.DatabaseNamespace.DatabaseName, databases);
        var exists = await Assert.ThrowsAsync<MongoCommandException>(() => db.CreateCollectionAsync("plain", cancellationToken: Ct));
        Assert.Equal(48, exists.Code);

        await db.DropCollectionAsync("plain", Ct);
        await shared.Client.DropDatabaseAsync(db.DatabaseNamespace.DatabaseName, Ct);
        var after = await (await shared.Client.ListDatabaseNamesAsync(Ct)).ToListAsync(Ct);
        Assert.DoesNotContain(db.DatabaseNamespace.DatabaseName, after);
    }
}
