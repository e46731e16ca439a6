using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Testing.Mongo;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>Update operators, indexes, findAndModify and aggregate through the driver.</summary>
public sealed class UpdateIndexAggregateTests(SharedEndpoint shared)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Array_and_arithmetic_operators_with_dotted_paths_and_indexes()
    {
        var coll = shared.NewDatabase("ops").GetCollection<BsonDocument>("c");
        await coll.InsertOneAsync(new BsonDocument { { "_id", 1 }, { "n", 1 }, { "arr", new BsonArray { 1, 2, 3, 2 } }, { "sub", new BsonDocument("list", new BsonArray { new BsonDocument("v", 1) }) } }, cancellationToken: Ct);

        await coll.UpdateOneAsync(new BsonDocument("_id", 1), new BsonDocument
        {
            { "$inc", new BsonDocument { { "n", 2 }, { "m", 1.5 } } },
            { "$push", new BsonDocument("arr", new BsonDocument("$each", new BsonArray { 4, 5 })) },
            { "$set", new BsonDocument("sub.list.0.v", 10) },
        }, cancellationToken: Ct);
        await coll.UpdateOneAsync(new BsonDocument("_id", 1), new BsonDocument
        {
            { "$pull", new BsonDocument("arr", 2) },
            { "$addToSet", new BsonDocument("tags", new BsonDocument("$each", new BsonArray { "x", "x", "y" })) },
        }, cancellationToken: Ct);
        await coll.UpdateOneAsync(new BsonDocument("_id", 1), new BsonDocument("$pop", new BsonDocument("arr", -1)), cancellationToken: Ct);

        var doc = await coll.Find(new BsonDocument("_id", 1)).SingleAsync(Ct);
        Assert.Equal(new BsonDocument
        {
            { "_id", 1 }, { "n", 3 }, { "arr", new BsonArray { 3, 4, 5 } }, { "sub", new BsonDocument("list", new BsonArray { new BsonDocument("v", 10) }) },
            { "m", 1.5 }, { "tags", new BsonArray { "x", "y" } },
        }, doc);
        var typeError = await Assert.ThrowsAsync<MongoWriteException>(() => coll.UpdateOneAsync(new BsonDocument("_id", 1), new BsonDocument("$inc", new BsonDocument("tags", 1)), cancellationToken: Ct));
        Assert.Equal(14, typeError.WriteError.Code);
    }

    [Fact]
    public async Task Unique_compound_and_ttl_indexes_are_listed_and_unique_is_enforced()
    {
        var coll = shared.NewDatabase("idx").GetCollection<BsonDocument>("c");
        await coll.Indexes.CreateManyAsync(
        [
            new CreateIndexModel<BsonDocument>(new BsonDocument("email", 1), new CreateIndexOptions { Unique = true }),
            new CreateIndexModel<BsonDocument>(new BsonDocument { { "a", 1 }, { "b", -1 } }),
            new CreateIndexModel<BsonDocument>(new BsonDocument("at", 1), new CreateIndexOptions { ExpireAfter = TimeSpan.FromSeconds(3600) }),
        ], Ct);
        await coll.InsertOneAsync(new BsonDocument { { "_id", 1 }, { "email", "a@x" } }, cancellationToken: Ct);

        var duplicate = await Assert.ThrowsAsync<MongoWriteException>(() => coll.InsertOneAsync(new BsonDocument { { "_id", 2 }, { "email", "a@x" } }, cancellationToken: Ct));
        var indexes = await (await coll.Indexes.ListAsync(Ct)).ToListAsync(Ct);
        await coll.Indexes.DropOneAsync("email_1", Ct);
        await coll.InsertOneAsync(new BsonDocument { { "_id", 2 }, { "email", "a@x" } }, cancellationToken: Ct);

        Assert.Equal(11000, duplicate.WriteError.Code);
        Assert.Equal(["_id_", "email_1", "a_1_b_-1", "at_1"], indexes.Select(i => i["name"].AsString));
        Assert.Equal(3600, indexes[3]["expireAfterSeconds"].ToInt32());
        Assert.Equal(new BsonDocument { { "a", 1 }, { "b", -1 } }, indexes[2]["key"]);
    }

    [Fact]
    public async Task FindOneAndUpdate_returns_before_or_after_and_upserts()
    {
        var coll = shared.NewDatabase("fam").GetCollection<BsonDocument>("c");
        await coll.InsertOneAsync(new BsonDocument { { "_id", 1 }, { "n", 1 } }, cancellationToken: Ct);

        var before = await coll.FindOneAndUpdateAsync(new BsonDocument("_id", 1), new BsonDocument("$inc", new BsonDocument("n", 1)), cancellationToken: Ct);
        var after = await coll.FindOneAndUpdateAsync(new BsonDocument("_id", 1), new BsonDocument("$inc", new BsonDocument("n", 1)),
            new FindOneAndUpdateOptions<BsonDocument> { ReturnDocument = ReturnDocument.After }, Ct);
        var upserted = await coll.FindOneAndUpdateAsync(new BsonDocument("_id", 2), new BsonDocument("$set", new BsonDocument("n", 7)),
            new FindOneAndUpdateOptions<BsonDocument> { IsUpsert = true, ReturnDocument = ReturnDocument.After }, Ct);
        var deleted = await coll.FindOneAndDeleteAsync(new BsonDocument("_id", 1), cancellationToken: Ct);

        Assert.Equal(1, before["n"].AsInt32);
        Assert.Equal(3, after["n"].AsInt32);
        Assert.Equal(new BsonDocument { { "_id", 2 }, { "n", 7 } }, upserted);
        Assert.Equal(3, deleted["n"].AsInt32);
    }

    [Fact]
    public async Task Aggregate_match_group_sort_and_count_documents()
    {
        var coll = shared.NewDatabase("agg").GetCollection<BsonDocument>("c");
        await coll.InsertManyAsync(Enumerable.Range(0, 10).Select(i => new BsonDocument { { "_id", i }, { "g", i % 3 }, { "v", i } }), cancellationToken: Ct);

        var groups = await coll.Aggregate<BsonDocument>(new BsonDocument[]
        {
            new("$match", new BsonDocument("v", new BsonDocument("$gte", 1))),
            new("$group", new BsonDocument { { "_id", "$g" }, { "count", new BsonDocument("$sum", 1) }, { "total", new BsonDocument("$sum", "$v") } }),
            new("$sort", new BsonDocument("_id", 1)),
        }, cancellationToken: Ct).ToListAsync(Ct);
        long counted = await coll.CountDocumentsAsync(new BsonDocument("g", 1), new CountOptions { Skip = 1, Limit = 2 }, Ct);

        Assert.Equal(
        [
            new BsonDocument { { "_id", 0 }, { "count", 3 }, { "total", 18 } },
            new BsonDocument { { "_id", 1 }, { "count", 3 }, { "total", 12 } },
            new BsonDocument { { "_id", 2 }, { "count", 3 }, { "total", 15 } },
        ], groups);
        Assert.Equal(2, counted);
    }
}
