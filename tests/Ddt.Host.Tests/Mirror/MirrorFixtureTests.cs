using MongoDB.Bson;
using MongoDB.Bson.Serialization;
using MongoDB.Driver;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Capture;
using WapBackup.Shared.Oplog;
using WapBackup.Testing;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Mirror;

/// <summary>
/// Real oplog entries (mongo-tools fixtures) stored as capture stores them and mirrored with both
/// modes: the server's applyOps and the client-side CRUD path must leave identical targets.
/// The fixture's user databases are renamed to names of this run's own, so a shared real target
/// (MONGODB_URI_3) holds them beside anything else; system databases keep their names so the
/// classifier treats those entries exactly as it would the originals.
/// </summary>
public sealed class MirrorFixtureTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly string[] SystemDatabases = ["admin", "config", "local"];

    // Other small mongo-tools fixtures repeat a ts (hand-edited upstream); a real oplog never does,
    // and the store refuses it (duplicate _id), so they cannot be stored as captured.
    [Theory]
    [InlineData("mongo-tools/mongorestore/testdata/oplog_partial_skips/oplog.bson")]
    public async Task Both_modes_apply_real_entries_to_the_same_result(string fixture)
    {
        byte[] bytes = await File.ReadAllBytesAsync(SharedFixtures.PathOf("oplog/" + fixture), Ct);
        var renames = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<byte[]>();
        foreach (var entry in BsonDocumentSplitter.Split(bytes))
        {
            entries.Add(RenameDatabases(BsonSerializer.Deserialize<BsonDocument>(entry.ToArray()), renames).ToBson());
        }
        Assert.NotEmpty(renames); // the fixture writes user data

        await using var storeEndpoint = await MongoEndpoint.StartAsync(MongoRoles.OplogStore, new MongoTestServerOptions { ReplicaSetName = "store" }, Ct);
        using var storeClient = new MongoClient(storeEndpoint.ConnectionString);
        string repositoryId = "fixture-" + Guid.NewGuid().ToString("N")[..16];
        var store = new CapturedOplogStore(storeClient, repositoryId);
        await store.AppendAsync(entries, Ct);
        var last = (await store.LastAsync(Ct))!.Value.Ts;

        var results = new List<List<string>>();
        foreach (var mode in new[] { MirrorMode.ApplyOps, MirrorMode.Crud })
        {
            await using var mirrorTarget = await MirrorTarget.StartAsync(repositoryId, renames.Values);
            var target = mirrorTarget.Client;
            // A checkpoint of each mode's own: on a shared target the first mode's must not make the second resume at the end.
            var applier = new MirrorApplier(store, target, $"{repositoryId}-{mode}", OplogClassifier.Default, new MirrorOptions(mode, 2));
            Assert.Equal(last, await applier.ApplyThroughAsync(last, Ct));
            Assert.Equal(0, applier.Stats.UniqueIndexRetries);
            Assert.True(applier.Stats.Applied > 0, applier.Stats.ToString());
            results.Add(await DumpAsync(target, renames.Values));
            foreach (string database in renames.Values)
            {
                await target.DropDatabaseAsync(database, Ct); // the next mode starts from an empty target here too
            }
        }
        Assert.NotEmpty(results[0]);
        Assert.Equal(results[0], results[1]);
    }

    /// <summary>
    /// Gives every user database the entry names (ns, nested applyOps, a command's full-namespace
    /// arguments, idIndex.ns) a unique name, recorded in <paramref name="renames"/>.
    /// </summary>
    private static BsonDocument RenameDatabases(BsonDocument entry, Dictionary<string, string> renames)
    {
        string Namespace(string ns)
        {
            int dot = ns.IndexOf('.', StringComparison.Ordinal);
            if (dot <= 0 || SystemDatabases.Contains(ns[..dot]))
            {
                return ns;
            }
            string database = ns[..dot];
            if (!renames.TryGetValue(database, out string? renamed))
            {
                renames[database] = renamed = MongoEndpoint.UniqueDatabaseName(database);
            }
            return renamed + ns[dot..];
        }

        void Rename(BsonDocument document, string field)
        {
            if (document.TryGetValue(field, out var value) && value.IsString)
            {
                document[field] = Namespace(value.AsString);
            }
        }

        Rename(entry, "ns");
        if (entry.GetValue("op", "").AsString == "c" && entry.GetValue("o", BsonNull.Value) is BsonDocument o)
        {
            Rename(o, "renameCollection");
            Rename(o, "to");
            if (o.GetValue("idIndex", BsonNull.Value) is BsonDocument idIndex)
            {
                Rename(idIndex, "ns");
            }
            if (o.GetValue("applyOps", BsonNull.Value) is BsonArray operations)
            {
                foreach (var operation in operations.OfType<BsonDocument>())
                {
                    RenameDatabases(operation, renames);
                }
            }
        }
        return entry;
    }

    /// <summary>The given databases' collections: documents (by _id) and index names, as text.</summary>
    private static async Task<List<string>> DumpAsync(MongoClient client, IEnumerable<string> databases)
    {
        var lines = new List<string>();
        foreach (string database in databases.Order(StringComparer.Ordinal))
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
