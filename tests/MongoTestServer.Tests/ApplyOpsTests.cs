using MongoDB.Bson;
using MongoDB.Driver;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>applyOps as mongorestore and the mirror applier send it; passes against a real replica set too.</summary>
public sealed class ApplyOpsTests(SharedEndpoint shared)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<BsonDocument> ApplyAsync(IMongoClient client, BsonArray ops, bool? allowAtomic = null, bool? alwaysUpsert = null)
    {
        var command = new BsonDocument("applyOps", ops);
        if (allowAtomic is bool atomic)
        {
            command["allowAtomic"] = atomic;
        }
        if (alwaysUpsert is bool upsert)
        {
            command["alwaysUpsert"] = upsert;
        }
        return client.GetDatabase("admin").RunCommandAsync<BsonDocument>(command, cancellationToken: Ct);
    }

    /// <summary>A new database with an empty collection c, and c's namespace.</summary>
    private async Task<(IMongoCollection<BsonDocument> Collection, string Ns)> NewCollectionAsync(string prefix)
    {
        var db = shared.NewDatabase(prefix);
        await db.CreateCollectionAsync("c", cancellationToken: Ct);
        return (db.GetCollection<BsonDocument>("c"), db.DatabaseNamespace.DatabaseName + ".c");
    }

    private static Task<long> CountAsync(IMongoCollection<BsonDocument> collection) =>
        collection.CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct);

    [Fact]
    public async Task Inserts_upsert_updates_apply_v1_v2_and_replacement_deletes_remove()
    {
        var db = shared.NewDatabase("apply");
        await db.CreateCollectionAsync("c", cancellationToken: Ct);
        string ns = db.DatabaseNamespace.DatabaseName + ".c";
        var ops = new BsonArray
        {
            new BsonDocument { { "op", "i" }, { "ns", ns }, { "o", new BsonDocument { { "_id", 1 }, { "a", 1 }, { "arr", new BsonArray { 1, 2, 3 } }, { "sub", new BsonDocument("x", 1) } } } },
            new BsonDocument { { "op", "i" }, { "ns", ns }, { "o", new BsonDocument { { "_id", 1 }, { "a", 2 }, { "arr", new BsonArray { 1, 2, 3 } }, { "sub", new BsonDocument("x", 1) } } } },
            new BsonDocument { { "op", "u" }, { "ns", ns }, { "o2", new BsonDocument("_id", 1) }, { "o", new BsonDocument { { "$v", 2 }, { "diff", new BsonDocument
                {
                    { "d", new BsonDocument("a", false) },
                    { "i", new BsonDocument("z", "end") },
                    { "sarr", new BsonDocument { { "a", true }, { "l", 2 }, { "u1", 20 } } },
                    { "ssub", new BsonDocument("u", new BsonDocument("x", 2)) },
                } } } } },
            new BsonDocument { { "op", "i" }, { "ns", ns }, { "o", new BsonDocument { { "_id", 2 }, { "k", 1 } } } },
            new BsonDocument { { "op", "u" }, { "ns", ns }, { "o2", new BsonDocument("_id", 2) }, { "o", new BsonDocument { { "$v", 1 }, { "$set", new BsonDocument("m", 1) }, { "$unset", new BsonDocument("k", true) } } } },
            new BsonDocument { { "op", "i" }, { "ns", ns }, { "o", new BsonDocument("_id", 3) } },
            new BsonDocument { { "op", "u" }, { "ns", ns }, { "o2", new BsonDocument("_id", 3) }, { "o", new BsonDocument { { "_id", 3 }, { "replaced", true } } } },
            new BsonDocument { { "op", "i" }, { "ns", ns }, { "o", new BsonDocument("_id", 4) } },
            new BsonDocument { { "op", "d" }, { "ns", ns }, { "o", new BsonDocument("_id", 4) } },
        };

        var reply = await ApplyAsync(shared.Client, ops);

        Assert.Equal(ops.Count, reply["applied"].ToInt32());
        var docs = await db.GetCollection<BsonDocument>("c").Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct);
        Assert.Equal(new BsonDocument { { "_id", 1 }, { "arr", new BsonArray { 1, 20 } }, { "sub", new BsonDocument("x", 2) }, { "z", "end" } }, docs[0]);
        Assert.Equal(new BsonDocument { { "_id", 2 }, { "m", 1 } }, docs[1]);
        Assert.Equal(new BsonDocument { { "_id", 3 }, { "replaced", true } }, docs[2]);
        Assert.Equal(3, docs.Count);
    }

    [Fact]
    public async Task Commands_create_index_rename_and_drop()
    {
        var db = shared.NewDatabase("applyc");
        string name = db.DatabaseNamespace.DatabaseName;
        var ops = new BsonArray
        {
            new BsonDocument { { "op", "c" }, { "ns", name + ".$cmd" }, { "o", new BsonDocument("create", "a") } },
            new BsonDocument { { "op", "c" }, { "ns", name + ".$cmd" }, { "o", new BsonDocument { { "createIndexes", "a" }, { "v", 2 }, { "key", new BsonDocument("k", 1) }, { "name", "k_1" }, { "unique", true } } } },
            new BsonDocument { { "op", "i" }, { "ns", name + ".a" }, { "o", new BsonDocument { { "_id", 1 }, { "k", 1 } } } },
            new BsonDocument { { "op", "c" }, { "ns", name + ".$cmd" }, { "o", new BsonDocument { { "renameCollection", name + ".a" }, { "to", name + ".b" }, { "stayTemp", false }, { "dropTarget", false } } } },
        };

        var reply = await ApplyAsync(shared.Client, ops);

        Assert.Equal(4, reply["applied"].ToInt32());
        var indexes = await (await db.GetCollection<BsonDocument>("b").Indexes.ListAsync(Ct)).ToListAsync(Ct);
        Assert.Contains(indexes, i => i["name"] == "k_1" && i["unique"].ToBoolean());
        var duplicate = await Assert.ThrowsAsync<MongoWriteException>(() => db.GetCollection<BsonDocument>("b").InsertOneAsync(new BsonDocument { { "_id", 2 }, { "k", 1 } }, cancellationToken: Ct));
        Assert.Equal(11000, duplicate.WriteError.Code);

        await ApplyAsync(shared.Client, [new BsonDocument { { "op", "c" }, { "ns", name + ".$cmd" }, { "o", new BsonDocument("drop", "b") } }]);
        var names = await (await db.ListCollectionNamesAsync(cancellationToken: Ct)).ToListAsync(Ct);
        Assert.Empty(names);
    }

    [Fact]
    public async Task Update_of_a_missing_document_without_upsert_fails_with_218_and_changes_nothing()
    {
        var (collection, ns) = await NewCollectionAsync("applyerr");
        var ops = new BsonArray
        {
            new BsonDocument { { "op", "i" }, { "ns", ns }, { "o", new BsonDocument("_id", 1) } },
            new BsonDocument { { "op", "u" }, { "ns", ns }, { "o2", new BsonDocument("_id", 99) }, { "o", new BsonDocument { { "$v", 2 }, { "diff", new BsonDocument("u", new BsonDocument("a", 1)) } } } },
        };

        var error = await Assert.ThrowsAsync<MongoCommandException>(() => ApplyAsync(shared.Client, ops, alwaysUpsert: false));

        Assert.Equal(218, error.Code);
        // Atomic batch: the insert before the failing update is rolled back.
        Assert.Equal(0, await CountAsync(collection));
    }

    [Fact]
    public async Task An_operation_that_is_not_an_object_fails_the_command_and_applies_nothing()
    {
        var (collection, ns) = await NewCollectionAsync("applybad");

        await Assert.ThrowsAsync<MongoCommandException>(() => ApplyAsync(shared.Client, [new BsonDocument { { "op", "i" }, { "ns", ns }, { "o", new BsonDocument("_id", 1) } }, "not an operation"]));

        Assert.Equal(0, await CountAsync(collection));
    }

    [Fact]
    public async Task Operation_fields_are_read_in_any_order_with_b_upserting_and_o2_naming_the_document()
    {
        var (collection, ns) = await NewCollectionAsync("applyorder");
        var ops = new BsonArray
        {
            new BsonDocument { { "o", new BsonDocument { { "_id", 1 }, { "a", 1L }, { "s", "x" } } }, { "ns", ns }, { "op", "i" } },
            new BsonDocument { { "b", true }, { "o2", new BsonDocument("_id", 2) }, { "o", new BsonDocument { { "$v", 2 }, { "diff", new BsonDocument("u", new BsonDocument("a", 2)) } } }, { "ns", ns }, { "op", "u" } },
            new BsonDocument { { "o", new BsonDocument("_id", 1) }, { "op", "d" }, { "ns", ns } },
            new BsonDocument { { "ns", ns }, { "o", new BsonDocument { { "s", "y" }, { "_id", 3 } } }, { "op", "i" } },
        };

        var reply = await ApplyAsync(shared.Client, ops, alwaysUpsert: false);

        Assert.Equal(4, reply["applied"].ToInt32());
        var docs = await collection.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct);
        Assert.Equal([new BsonDocument { { "_id", 2 }, { "a", 2 } }, new BsonDocument { { "_id", 3 }, { "s", "y" } }], docs);
    }

    [Fact]
    public async Task A_v2_update_is_logged_with_the_diff_it_applied()
    {
        var (collection, ns) = await NewCollectionAsync("applydelta");
        var start = await shared.LastTimestampAsync();
        // "a" already holds 1: a diff computed from the images would name only "b"; the server logs the diff as given.
        var update = new BsonDocument { { "$v", 2 }, { "diff", new BsonDocument("u", new BsonDocument { { "a", 1 }, { "b", 2 } }) } };

        await ApplyAsync(shared.Client,
        [
            new BsonDocument { { "op", "i" }, { "ns", ns }, { "o", new BsonDocument { { "_id", 1 }, { "a", 1 } } } },
            new BsonDocument { { "op", "u" }, { "ns", ns }, { "o2", new BsonDocument("_id", 1) }, { "o", update } },
        ]);

        Assert.Equal(new BsonDocument { { "_id", 1 }, { "a", 1 }, { "b", 2 } }, await collection.Find(FilterDefinition<BsonDocument>.Empty).SingleAsync(Ct));
        var entries = await shared.Oplog.Find(new BsonDocument { { "ts", new BsonDocument("$gt", start) }, { "o.applyOps.ns", ns } }).ToListAsync(Ct);
        var logged = Assert.Single(entries)["o"]["applyOps"].AsBsonArray.Single(o => o["op"] == "u");
        Assert.Equal(update, logged["o"].AsBsonDocument);
    }

    [Fact]
    public async Task Atomic_batch_is_one_applyOps_entry_non_atomic_ops_are_logged_alone()
    {
        var db = shared.NewDatabase("applylog");
        await db.CreateCollectionAsync("c", cancellationToken: Ct);
        string ns = db.DatabaseNamespace.DatabaseName + ".c";
        var start = await shared.LastTimestampAsync();

        await ApplyAsync(shared.Client, [new BsonDocument { { "op", "i" }, { "ns", ns }, { "o", new BsonDocument("_id", 1) } }, new BsonDocument { { "op", "i" }, { "ns", ns }, { "o", new BsonDocument("_id", 2) } }]);
        await ApplyAsync(shared.Client, [new BsonDocument { { "op", "i" }, { "ns", ns }, { "o", new BsonDocument("_id", 3) } }], allowAtomic: false);

        var entries = await shared.Oplog.Find(new BsonDocument("ts", new BsonDocument("$gt", start))).ToListAsync(Ct);
        // Parallel tests write applyOps entries too: pick the one whose operations are on this test's namespace.
        var batch = entries.Single(e => e["op"] == "c" && e["o"].AsBsonDocument.Contains("applyOps") && e["o"]["applyOps"].AsBsonArray.Any(o => o["ns"] == ns));
        Assert.Equal("admin.$cmd", batch["ns"].AsString);
        Assert.Equal([1, 2], batch["o"]["applyOps"].AsBsonArray.Select(o => o["o"]["_id"].AsInt32));
        Assert.Contains(entries, e => e["op"] == "i" && e["ns"] == ns && e["o"]["_id"] == 3);
    }
}
