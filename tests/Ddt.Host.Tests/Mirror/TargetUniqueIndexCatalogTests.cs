using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Mirror;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Mirror;

/// <summary>What the pool's routing asks the target (decision 1030): which collections enforce a unique key besides _id.</summary>
public sealed class TargetUniqueIndexCatalogTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Only_a_collection_with_a_unique_secondary_index_is_routed_as_a_whole()
    {
        string db = MongoEndpoint.UniqueDatabaseName("catalog");
        await using var target = await MirrorTarget.StartAsync(Shared.Repositories.BackupRepository.NewId(), [db]);
        var database = target.Client.GetDatabase(db);
        await database.GetCollection<BsonDocument>("plain").InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct);
        var indexed = database.GetCollection<BsonDocument>("indexed");
        await indexed.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(new BsonDocument("n", 1)), cancellationToken: Ct);
        var unique = database.GetCollection<BsonDocument>("unique");
        await unique.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(new BsonDocument("email", 1), new CreateIndexOptions { Unique = true }), cancellationToken: Ct);
        var catalog = new TargetUniqueIndexCatalog(target.Client);

        Assert.False(await catalog.HasUniqueSecondaryIndexAsync(db + ".missing", Ct)); // created later by a command, which makes the pool ask again
        Assert.False(await catalog.HasUniqueSecondaryIndexAsync(db + ".plain", Ct)); // _id_ alone
        Assert.False(await catalog.HasUniqueSecondaryIndexAsync(db + ".indexed", Ct));
        Assert.True(await catalog.HasUniqueSecondaryIndexAsync(db + ".unique", Ct));
    }
}
