using MongoDB.Bson;
using MongoDB.Driver;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>Views as MongoDB keeps them: a definition in <c>db.system.views</c>, listed with <c>type: "view"</c>; written to pass against a real replica set too.</summary>
public sealed class ViewTests(SharedEndpoint shared)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Create_view_writes_its_system_views_entry_and_list_collections_shows_type_view_with_its_options()
    {
        var db = shared.NewDatabase("views");
        await db.GetCollection<BsonDocument>("orders").InsertOneAsync(new BsonDocument { { "_id", 1 }, { "total", 5 } }, cancellationToken: Ct);
        var pipeline = new BsonArray { new BsonDocument("$match", new BsonDocument("total", new BsonDocument("$gt", 3))), new BsonDocument("$project", new BsonDocument("total", 1)) };

        await db.RunCommandAsync<BsonDocument>(new BsonDocument { { "create", "big" }, { "viewOn", "orders" }, { "pipeline", pipeline } }, cancellationToken: Ct);

        var definition = await db.GetCollection<BsonDocument>("system.views").Find(FilterDefinition<BsonDocument>.Empty).SingleAsync(Ct);
        Assert.Equal(new BsonDocument { { "_id", $"{db.DatabaseNamespace.DatabaseName}.big" }, { "viewOn", "orders" }, { "pipeline", pipeline } }, definition);
        var listed = await (await db.ListCollectionsAsync(new ListCollectionsOptions { Filter = new BsonDocument("name", "big") }, Ct)).SingleAsync(Ct);
        Assert.Equal("view", listed["type"].AsString);
        Assert.Equal(new BsonDocument { { "viewOn", "orders" }, { "pipeline", pipeline } }, listed["options"].AsBsonDocument);
        Assert.True(listed["info"]["readOnly"].AsBoolean);
        var exists = await Assert.ThrowsAsync<MongoCommandException>(() =>
            db.RunCommandAsync<BsonDocument>(new BsonDocument { { "create", "big" }, { "viewOn", "orders" }, { "pipeline", new BsonArray() } }, cancellationToken: Ct));
        Assert.Equal(48, exists.Code); // NamespaceExists
    }

    [Fact]
    public async Task Dropping_a_view_removes_its_definition_and_leaves_the_collection()
    {
        var db = shared.NewDatabase("viewdrop");
        await db.GetCollection<BsonDocument>("orders").InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct);
        await db.RunCommandAsync<BsonDocument>(new BsonDocument { { "create", "v" }, { "viewOn", "orders" }, { "pipeline", new BsonArray() } }, cancellationToken: Ct);

        await db.DropCollectionAsync("v", Ct);

        Assert.Empty(await db.GetCollection<BsonDocument>("system.views").Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct));
        var names = await (await db.ListCollectionNamesAsync(cancellationToken: Ct)).ToListAsync(Ct);
        Assert.Contains("orders", names);
        Assert.DoesNotContain("v", names);
    }

    [Fact]
    public async Task Reading_a_view_is_refused_loudly_not_answered_empty()
    {
        shared.Endpoint.RequireTestServer("a real server runs the view's pipeline");
        var db = shared.NewDatabase("viewread");
        await db.GetCollection<BsonDocument>("orders").InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct);
        await db.RunCommandAsync<BsonDocument>(new BsonDocument { { "create", "v" }, { "viewOn", "orders" }, { "pipeline", new BsonArray() } }, cancellationToken: Ct);

        var refused = await Assert.ThrowsAsync<MongoCommandException>(() => db.GetCollection<BsonDocument>("v").Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct));

        Assert.Contains("view", refused.Message, StringComparison.Ordinal);
    }
}
