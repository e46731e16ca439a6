using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Mirror;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Mirror;

/// <summary>What the pool's routing asks the target (decision 1030): which collections depend on the order of operations across documents.</summary>
public sealed class TargetNamespaceOrderCatalogTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Only_capped_collections_and_those_with_a_unique_secondary_index_are_order_sensitive()
    {
        string db = MongoEndpoint.UniqueDatabaseName("catalog");
        await using var target = await MirrorTarget.StartAsync(Shared.Repositories.BackupRepository.NewId(), [db]);
        var database = target.Client.GetDatabase(db);
        await database.GetCollection<BsonDocument>("plain").InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct);
        var indexed = database.GetCollection<BsonDocument>("indexed");
        await indexed.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(new BsonDocument("n", 1)), cancellationToken: Ct);
        var unique = database.GetCollection<BsonDocument>("unique");
        await unique.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(new BsonDocument("email", 1), new CreateIndexOptions { Unique = true }), cancellationToken: Ct);
        await database.CreateCollectionAsync("capped", new CreateCollectionOptions { Capped = true, MaxSize = 1 << 20 }, Ct);
        var catalog = new TargetNamespaceOrderCatalog(target.Client);

        Assert.False(await catalog.IsOrderSensitiveAsync(db + ".missing", Ct)); // created later by a command, which makes the pool ask again
        Assert.False(await catalog.IsOrderSensitiveAsync(db + ".plain", Ct)); // _id_ alone
        Assert.False(await catalog.IsOrderSensitiveAsync(db + ".indexed", Ct));
        Assert.True(await catalog.IsOrderSensitiveAsync(db + ".unique", Ct));
        Assert.True(await catalog.IsOrderSensitiveAsync(db + ".capped", Ct));
    }
}
