using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Oplog;
using WapBackup.Shared.Oplog;
using WapBackup.Testing;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Mirror;

/// <summary>
/// Real oplog entries (mongo-tools fixtures) stored as capture stores them and mirrored with both
/// modes: the server's applyOps and the client-side CRUD path must leave identical targets.
/// </summary>
public sealed class MirrorFixtureTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // Other small mongo-tools fixtures repeat a ts (hand-edited upstream); a real oplog never does,
    // and the store refuses it (duplicate _id), so they cannot be stored as captured.
    [Theory]
    [InlineData("mongo-tools/mongorestore/testdata/oplog_partial_skips/oplog.bson")]
    public async Task Both_modes_apply_real_entries_to_the_same_result(string fixture)
    {
        byte[] bytes = await File.ReadAllBytesAsync(SharedFixtures.PathOf("oplog/" + fixture), Ct);
        var entries = new List<byte[]>();
        foreach (var entry in BsonDocumentSplitter.Split(bytes)) entries.Add(entry.ToArray());

        await using var storeServer = await MongoTestServer.StartAsync(new MongoTestServerOptions { ReplicaSetName = "store" }, Ct);
        using var storeClient = new MongoClient(storeServer.ConnectionString);
        var store = new CapturedOplogStore(storeClient, "fixture");
        await store.AppendAsync(entries, Ct);
        var last = (await store.LastAsync(Ct))!.Value.Ts;

        var results = new List<List<string>>();
        foreach (var mode in new[] { MirrorMode.ApplyOps, MirrorMode.Crud })
        {
            await using var targetServer = await MongoTestServer.StartAsync(new MongoTestServerOptions { ReplicaSetName = "target" }, Ct);
            using var target = new MongoClient(targetServer.ConnectionString);
            var applier = new MirrorApplier(store, target, "fixture", OplogClassifier.Default, new MirrorOptions(mode, 2));
            Assert.Equal(last, await applier.ApplyThroughAsync(last, Ct));
            Assert.Equal(0, applier.Stats.UniqueIndexConflicts);
            Assert.True(applier.Stats.Applied > 0, applier.Stats.ToString());
            results.Add(await DumpAsync(target));
        }
        Assert.NotEmpty(results[0]);
        Assert.Equal(results[0], results[1]);
    }

    /// <summary>Every user collection's documents (by _id) and index names, as text.</summary>
    private static async Task<List<string>> DumpAsync(MongoClient client)
    {
        var lines = new List<string>();
        var databases = await (await client.ListDatabaseNamesAsync(Ct)).ToListAsync(Ct);
        foreach (string database in databases.Where(d => d is not ("admin" or "local" or "config" or MirrorCheckpointStore.DatabaseName)).Order(StringComparer.Ordinal))
        {
            var db = client.GetDatabase(database);
            foreach (string name in (await (await db.ListCollectionNamesAsync(cancellationToken: Ct)).ToListAsync(Ct)).Order(StringComparer.Ordinal))
            {
                var collection = db.GetCollection<BsonDocument>(name);
                var indexes = await (await collection.Indexes.ListAsync(Ct)).ToListAsync(Ct);
                lines.Add($"{database}.{name} indexes {string.Join(",", indexes.Select(i => i["name"].AsString).Order(StringComparer.Ordinal))}");
                foreach (var document in await collection.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct))
                {
                    lines.Add($"{database}.{name} {document.ToJson()}");
                }
            }
        }
        return lines;
    }
}
