using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Testing.Mongo;

namespace WapBackup.MongoTestServer.Tests;

/// <summary>
/// Snapshot isolation and write conflicts of multi-document transactions, as MongoDB 7.0 (WiredTiger)
/// behaves: uncommitted writes are invisible, reads repeat, concurrent writers conflict with
/// WriteConflict (112, TransientTransactionError), plain writes wait for the transaction holding
/// their document. Written to pass against a real replica set too.
/// </summary>
[Collection(TransactionCollection.Name)]
public sealed class TransactionIsolationTests(SharedEndpoint shared)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly FilterDefinition<BsonDocument> All = FilterDefinition<BsonDocument>.Empty;

    private static BsonDocument Id(int id) => new("_id", id);

    private static BsonDocument Set(string field, BsonValue value) => new("$set", new BsonDocument(field, value));

    private static BsonDocument Inc(string field, int by) => new("$inc", new BsonDocument(field, by));

    private static async Task<IMongoCollection<BsonDocument>> SeededAsync(IMongoDatabase db, params BsonDocument[] docs)
    {
        var coll = db.GetCollection<BsonDocument>("c");
        await coll.InsertManyAsync(docs, cancellationToken: Ct);
        return coll;
    }

    private static Task<List<BsonDocument>> AllAsync(IMongoCollection<BsonDocument> coll, IClientSessionHandle? session = null) =>
        session is null
            ? coll.Find(All).Sort(Id(1)).ToListAsync(Ct)
            : coll.Find(session, All).Sort(Id(1)).ToListAsync(Ct);

    [Fact]
    public async Task Uncommitted_writes_are_invisible_to_others_and_appear_together_at_commit()
    {
        var coll = await SeededAsync(shared.NewDatabase("txniso"), new BsonDocument { { "_id", 1 }, { "v", "old" } }, Id(2));
        var before = await AllAsync(coll);

        using var writer = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        writer.StartTransaction();
        await coll.InsertOneAsync(writer, new BsonDocument { { "_id", 3 }, { "v", "new" } }, cancellationToken: Ct);
        await coll.UpdateOneAsync(writer, Id(1), Set("v", "changed"), cancellationToken: Ct);
        await coll.DeleteOneAsync(writer, Id(2), cancellationToken: Ct);

        // The writer sees its own writes ...
        Assert.Equal([new BsonDocument { { "_id", 1 }, { "v", "changed" } }, new BsonDocument { { "_id", 3 }, { "v", "new" } }], await AllAsync(coll, writer));
        // ... nobody else does: plain reads, counts, by _id, and another session's transaction.
        Assert.Equal(before, await AllAsync(coll));
        Assert.Equal(2, await coll.CountDocumentsAsync(All, cancellationToken: Ct));
        Assert.Empty(await coll.Find(Id(3)).ToListAsync(Ct));
        Assert.Equal("old", (await coll.Find(Id(1)).SingleAsync(Ct))["v"].AsString);
        using (var other = await shared.Client.StartSessionAsync(cancellationToken: Ct))
        {
            other.StartTransaction();
            Assert.Equal(before, await AllAsync(coll, other));
            Assert.Equal(2, await coll.CountDocumentsAsync(other, All, cancellationToken: Ct));
            await other.CommitTransactionAsync(Ct);
        }

        await writer.CommitTransactionAsync(Ct);

        Assert.Equal([new BsonDocument { { "_id", 1 }, { "v", "changed" } }, new BsonDocument { { "_id", 3 }, { "v", "new" } }], await AllAsync(coll));
        Assert.Equal(2, await coll.CountDocumentsAsync(All, cancellationToken: Ct));
    }

    [Fact]
    public async Task Aborted_writes_were_never_visible_and_stay_invisible()
    {
        var coll = await SeededAsync(shared.NewDatabase("txnisoabort"), new BsonDocument { { "_id", 1 }, { "v", 1 } });
        var before = await AllAsync(coll);
        using var writer = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        writer.StartTransaction();
        await coll.InsertOneAsync(writer, Id(2), cancellationToken: Ct);
        await coll.UpdateOneAsync(writer, Id(1), Set("v", 2), cancellationToken: Ct);
        Assert.Equal(before, await AllAsync(coll));
        Assert.Equal(1, await coll.CountDocumentsAsync(All, cancellationToken: Ct));

        await writer.AbortTransactionAsync(Ct);

        Assert.Equal(before, await AllAsync(coll));
        // The aborted transaction held nothing: a plain write to the same documents proceeds at once.
        await coll.InsertOneAsync(Id(2), cancellationToken: Ct);
        await coll.UpdateOneAsync(Id(1), Set("v", 3), cancellationToken: Ct);
        Assert.Equal([new BsonDocument { { "_id", 1 }, { "v", 3 } }, Id(2)], await AllAsync(coll));
    }

    [Fact]
    public async Task Reads_inside_a_transaction_repeat_until_it_ends()
    {
        var db = shared.NewDatabase("txnrr");
        var coll = await SeededAsync(db, new BsonDocument { { "_id", 1 }, { "v", 1 } }, Id(2));
        await db.CreateCollectionAsync("unrelated", cancellationToken: Ct);
        using var reader = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        reader.StartTransaction();
        Assert.Equal(1, (await coll.Find(reader, Id(1)).SingleAsync(Ct))["v"].AsInt32);

        await coll.UpdateOneAsync(Id(1), Set("v", 2), cancellationToken: Ct);
        await coll.InsertOneAsync(Id(3), cancellationToken: Ct);
        await coll.DeleteOneAsync(Id(2), cancellationToken: Ct);

        // The snapshot is the one taken at the transaction's first read: none of the three commits shows.
        Assert.Equal(1, (await coll.Find(reader, Id(1)).SingleAsync(Ct))["v"].AsInt32);
        Assert.Equal([new BsonDocument { { "_id", 1 }, { "v", 1 } }, Id(2)], await AllAsync(coll, reader));
        Assert.Equal(2, await coll.CountDocumentsAsync(reader, All, cancellationToken: Ct));
        var unrelated = db.GetCollection<BsonDocument>("unrelated");
        await unrelated.InsertOneAsync(reader, Id(9), cancellationToken: Ct);
        await reader.CommitTransactionAsync(Ct);

        Assert.Equal([new BsonDocument { { "_id", 1 }, { "v", 2 } }, Id(3)], await AllAsync(coll));
        Assert.Equal([Id(9)], await unrelated.Find(All).ToListAsync(Ct));
        using var next = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        next.StartTransaction();
        Assert.Equal(2, (await coll.Find(next, Id(1)).SingleAsync(Ct))["v"].AsInt32);
        await next.CommitTransactionAsync(Ct);
    }

    [Fact]
    public async Task Second_transaction_writing_the_same_document_gets_WriteConflict_and_its_commit_fails()
    {
        var coll = await SeededAsync(shared.NewDatabase("txnww"), new BsonDocument { { "_id", 1 }, { "v", 0 } });
        var start = await shared.LastTimestampAsync();
        using var first = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        using var second = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        first.StartTransaction();
        second.StartTransaction();
        await coll.UpdateOneAsync(first, Id(1), Set("v", 1), cancellationToken: Ct);

        var conflict = await Assert.ThrowsAsync<MongoCommandException>(() => coll.UpdateOneAsync(second, Id(1), Set("v", 2), cancellationToken: Ct));
        Assert.Equal(112, conflict.Code);
        Assert.Equal("WriteConflict", conflict.CodeName);
        Assert.True(conflict.HasErrorLabel("TransientTransactionError"));

        var commit = await Assert.ThrowsAsync<MongoCommandException>(() => second.CommitTransactionAsync(Ct));
        Assert.Equal(251, commit.Code);
        Assert.True(commit.HasErrorLabel("TransientTransactionError"));
        await first.CommitTransactionAsync(Ct);

        Assert.Equal(1, (await coll.Find(Id(1)).SingleAsync(Ct))["v"].AsInt32);
        // Only the first transaction is in the oplog: one applyOps with its single update.
        var entries = await shared.Oplog.Find(new BsonDocument { { "ts", new BsonDocument("$gt", start) }, { "o.applyOps.ns", coll.CollectionNamespace.FullName } }).ToListAsync(Ct);
        var entry = Assert.Single(entries);
        Assert.Equal(["u"], entry["o"]["applyOps"].AsBsonArray.Select(o => o["op"].AsString));
    }

    [Fact]
    public async Task Insert_of_an_id_another_transaction_inserted_conflicts()
    {
        var coll = await SeededAsync(shared.NewDatabase("txnins"), Id(0));
        using var first = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        using var second = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        first.StartTransaction();
        second.StartTransaction();
        await coll.InsertOneAsync(first, new BsonDocument { { "_id", 5 }, { "by", "first" } }, cancellationToken: Ct);

        var conflict = await Assert.ThrowsAsync<MongoCommandException>(() => coll.InsertOneAsync(second, new BsonDocument { { "_id", 5 }, { "by", "second" } }, cancellationToken: Ct));
        Assert.Equal(112, conflict.Code);
        Assert.True(conflict.HasErrorLabel("TransientTransactionError"));
        await first.CommitTransactionAsync(Ct);

        Assert.Equal("first", (await coll.Find(Id(5)).SingleAsync(Ct))["by"].AsString);
    }

    [Fact]
    public async Task Write_to_a_document_committed_after_the_snapshot_conflicts()
    {
        var coll = await SeededAsync(shared.NewDatabase("txnsnapw"), new BsonDocument { { "_id", 1 }, { "v", 0 } });
        using var txn = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        txn.StartTransaction();
        Assert.Equal(0, (await coll.Find(txn, Id(1)).SingleAsync(Ct))["v"].AsInt32); // establishes the snapshot

        await coll.UpdateOneAsync(Id(1), Set("v", 5), cancellationToken: Ct);

        var conflict = await Assert.ThrowsAsync<MongoCommandException>(() => coll.UpdateOneAsync(txn, Id(1), Inc("v", 1), cancellationToken: Ct));
        Assert.Equal(112, conflict.Code);
        Assert.True(conflict.HasErrorLabel("TransientTransactionError"));
        await Assert.ThrowsAsync<MongoCommandException>(() => txn.CommitTransactionAsync(Ct));
        Assert.Equal(5, (await coll.Find(Id(1)).SingleAsync(Ct))["v"].AsInt32);
    }

    [Fact]
    public async Task Plain_update_of_a_document_held_by_a_transaction_waits_and_applies_on_the_committed_value()
    {
        var coll = await SeededAsync(shared.NewDatabase("txnwait"), new BsonDocument { { "_id", 1 }, { "n", 0 } });
        using var txn = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        txn.StartTransaction();
        await coll.UpdateOneAsync(txn, Id(1), Inc("n", 1), cancellationToken: Ct);

        var plain = coll.UpdateOneAsync(Id(1), Inc("n", 1), cancellationToken: Ct);
        await Task.Delay(200, Ct);
        Assert.False(plain.IsCompleted, "the plain update must wait for the transaction holding the document");
        await txn.CommitTransactionAsync(Ct);
        var result = await plain;

        Assert.Equal(1, result.ModifiedCount);
        Assert.Equal(2, (await coll.Find(Id(1)).SingleAsync(Ct))["n"].AsInt32);
    }

    [Fact]
    public async Task Plain_insert_of_an_id_a_transaction_inserted_waits_for_its_abort_then_succeeds()
    {
        var coll = await SeededAsync(shared.NewDatabase("txnwaitins"), Id(0));
        using var txn = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        txn.StartTransaction();
        await coll.InsertOneAsync(txn, new BsonDocument { { "_id", 7 }, { "by", "txn" } }, cancellationToken: Ct);

        var plain = coll.InsertOneAsync(new BsonDocument { { "_id", 7 }, { "by", "plain" } }, cancellationToken: Ct);
        await Task.Delay(200, Ct);
        Assert.False(plain.IsCompleted, "the plain insert must wait for the transaction that inserted the same _id");
        await txn.AbortTransactionAsync(Ct);
        await plain;

        Assert.Equal("plain", (await coll.Find(Id(7)).SingleAsync(Ct))["by"].AsString);
    }

    [Fact]
    public async Task Plain_insert_into_a_collection_a_transaction_is_creating_lands_after_its_commit()
    {
        var db = shared.NewDatabase("txnddl");
        var fresh = db.GetCollection<BsonDocument>("fresh");
        using var txn = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        txn.StartTransaction();
        await fresh.InsertOneAsync(txn, new BsonDocument { { "_id", 1 }, { "by", "txn" } }, cancellationToken: Ct); // creates the collection

        var plain = fresh.InsertOneAsync(new BsonDocument { { "_id", 2 }, { "by", "plain" } }, cancellationToken: Ct);
        Assert.Empty(await fresh.Find(All).ToListAsync(Ct));
        await txn.CommitTransactionAsync(Ct);
        await plain;

        Assert.Equal(["txn", "plain"], (await AllAsync(fresh)).Select(d => d["by"].AsString));
    }

    [Fact]
    public async Task Unique_key_held_uncommitted_conflicts_for_transactions_and_waits_for_plain_inserts()
    {
        var coll = await SeededAsync(shared.NewDatabase("txnuniq"), new BsonDocument { { "_id", 0 }, { "k", 0 } });
        await coll.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(new BsonDocument("k", 1), new CreateIndexOptions { Unique = true }), cancellationToken: Ct);
        using var first = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        using var second = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        first.StartTransaction();
        second.StartTransaction();
        await coll.InsertOneAsync(first, new BsonDocument { { "_id", 1 }, { "k", 1 } }, cancellationToken: Ct);

        var conflict = await Assert.ThrowsAsync<MongoCommandException>(() => coll.InsertOneAsync(second, new BsonDocument { { "_id", 2 }, { "k", 1 } }, cancellationToken: Ct));
        Assert.Equal(112, conflict.Code);
        // Against the committed key inside the same snapshot it is an ordinary duplicate.
        using (var third = await shared.Client.StartSessionAsync(cancellationToken: Ct))
        {
            third.StartTransaction();
            var duplicate = await Assert.ThrowsAsync<MongoWriteException>(() => coll.InsertOneAsync(third, new BsonDocument { { "_id", 3 }, { "k", 0 } }, cancellationToken: Ct));
            Assert.Equal(ServerErrorCategory.DuplicateKey, duplicate.WriteError.Category);
        }

        var plain = coll.InsertOneAsync(new BsonDocument { { "_id", 4 }, { "k", 1 } }, cancellationToken: Ct);
        await Task.Delay(200, Ct);
        Assert.False(plain.IsCompleted, "the plain insert must wait for the transaction holding unique key k: 1");
        await first.AbortTransactionAsync(Ct);
        await plain;

        Assert.Equal([new BsonDocument { { "_id", 0 }, { "k", 0 } }, new BsonDocument { { "_id", 4 }, { "k", 1 } }], await AllAsync(coll));
    }

    private static async Task<List<string>> DistinctAsync(IMongoCollection<BsonDocument> coll, IClientSessionHandle? session)
    {
        using var cursor = session is null
            ? await coll.DistinctAsync<string>("g", All, cancellationToken: Ct)
            : await coll.DistinctAsync<string>(session, "g", All, cancellationToken: Ct);
        return await IAsyncCursorExtensions.ToListAsync(cursor, Ct);
    }

    [Fact]
    public async Task Plain_insert_of_a_unique_key_a_transaction_is_freeing_waits_and_then_succeeds()
    {
        var coll = await SeededAsync(shared.NewDatabase("txnfree"), new BsonDocument { { "_id", 1 }, { "k", "taken" } });
        await coll.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(new BsonDocument("k", 1), new CreateIndexOptions { Unique = true }), cancellationToken: Ct);
        using var txn = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        txn.StartTransaction();
        await coll.UpdateOneAsync(txn, Id(1), Set("k", "moved"), cancellationToken: Ct);

        var plain = coll.InsertOneAsync(new BsonDocument { { "_id", 2 }, { "k", "taken" } }, cancellationToken: Ct);
        await Task.Delay(200, Ct);
        Assert.False(plain.IsCompleted, "the plain insert must wait for the transaction rewriting the key's owner");
        await txn.CommitTransactionAsync(Ct);
        await plain;

        Assert.Equal([new BsonDocument { { "_id", 1 }, { "k", "moved" } }, new BsonDocument { { "_id", 2 }, { "k", "taken" } }], await AllAsync(coll));
    }

    [Fact]
    public async Task Aggregate_and_distinct_see_only_their_own_view()
    {
        var coll = await SeededAsync(shared.NewDatabase("txnagg"), new BsonDocument { { "_id", 1 }, { "g", "a" } }, new BsonDocument { { "_id", 2 }, { "g", "b" } });
        using var txn = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        txn.StartTransaction();
        await coll.InsertOneAsync(txn, new BsonDocument { { "_id", 3 }, { "g", "c" } }, cancellationToken: Ct);
        await coll.DeleteOneAsync(txn, Id(1), cancellationToken: Ct);

        var pipeline = new[] { new BsonDocument("$group", new BsonDocument { { "_id", BsonNull.Value }, { "n", new BsonDocument("$sum", 1) } }) };
        Assert.Equal(2, (await coll.Aggregate<BsonDocument>(pipeline, cancellationToken: Ct).SingleAsync(Ct))["n"].AsInt32);
        Assert.Equal(["a", "b"], (await DistinctAsync(coll, null)).Order());
        Assert.Equal(["b", "c"], (await DistinctAsync(coll, txn)).Order());
        Assert.Equal(2, (await coll.Aggregate<BsonDocument>(txn, pipeline, cancellationToken: Ct).SingleAsync(Ct))["n"].AsInt32);
        await txn.CommitTransactionAsync(Ct);

        Assert.Equal(["b", "c"], (await DistinctAsync(coll, null)).Order());
    }

    [Fact]
    public async Task Snapshot_keeps_documents_deleted_and_hides_documents_inserted_after_it()
    {
        var coll = await SeededAsync(shared.NewDatabase("txnsnapdel"), Id(1), Id(2), Id(3));
        using var txn = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        txn.StartTransaction();
        Assert.Equal(3, await coll.CountDocumentsAsync(txn, All, cancellationToken: Ct));

        await coll.DeleteOneAsync(Id(2), cancellationToken: Ct);
        await coll.InsertOneAsync(Id(4), cancellationToken: Ct);
        await coll.DeleteOneAsync(Id(3), cancellationToken: Ct);
        await coll.InsertOneAsync(new BsonDocument { { "_id", 3 }, { "again", true } }, cancellationToken: Ct);

        Assert.Equal([Id(1), Id(2), Id(3)], await AllAsync(coll, txn));
        Assert.Equal(Id(2), await coll.Find(txn, Id(2)).SingleAsync(Ct));
        Assert.Empty(await coll.Find(txn, Id(4)).ToListAsync(Ct));
        // Its own delete-then-insert of a document it sees is fine; touching what others changed is not.
        await coll.DeleteOneAsync(txn, Id(1), cancellationToken: Ct);
        await coll.InsertOneAsync(txn, new BsonDocument { { "_id", 1 }, { "mine", true } }, cancellationToken: Ct);
        var conflict = await Assert.ThrowsAsync<MongoCommandException>(() => coll.DeleteOneAsync(txn, Id(2), cancellationToken: Ct));
        Assert.Equal(112, conflict.Code);

        Assert.Equal([Id(1), new BsonDocument { { "_id", 3 }, { "again", true } }, Id(4)], await AllAsync(coll));
    }

    [Fact]
    public async Task ApplyOps_on_a_document_held_by_a_transaction_waits_for_it()
    {
        var db = shared.NewDatabase("txnapply");
        var coll = await SeededAsync(db, new BsonDocument { { "_id", 1 }, { "v", 0 } });
        using var txn = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        txn.StartTransaction();
        await coll.UpdateOneAsync(txn, Id(1), Set("v", 1), cancellationToken: Ct);

        var op = new BsonDocument
        {
            { "op", "u" }, { "ns", coll.CollectionNamespace.FullName }, { "o", new BsonDocument { { "_id", 1 }, { "v", 2 } } }, { "o2", Id(1) },
        };
        var apply = shared.Client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("applyOps", new BsonArray { op }), cancellationToken: Ct);
        await Task.Delay(200, Ct);
        Assert.False(apply.IsCompleted, "applyOps must wait for the transaction holding the document");
        await txn.CommitTransactionAsync(Ct);
        Assert.Equal(1, (await apply)["applied"].AsInt32);

        Assert.Equal(new BsonDocument { { "_id", 1 }, { "v", 2 } }, await coll.Find(Id(1)).SingleAsync(Ct));
    }

    [Fact]
    public async Task Commands_not_allowed_in_a_transaction_fail_without_aborting_it()
    {
        var db = shared.NewDatabase("txnnotallowed");
        var coll = await SeededAsync(db, Id(1));
        await db.CreateCollectionAsync("other", cancellationToken: Ct);
        using var txn = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        txn.StartTransaction();
        await coll.InsertOneAsync(txn, Id(2), cancellationToken: Ct);

        var count = await Assert.ThrowsAsync<MongoCommandException>(() => db.RunCommandAsync<BsonDocument>(txn, new BsonDocument("count", "c"), cancellationToken: Ct));
        Assert.Equal(263, count.Code);
        Assert.Equal("OperationNotSupportedInTransaction", count.CodeName);
        var drop = await Assert.ThrowsAsync<MongoCommandException>(() => db.DropCollectionAsync(txn, "other", Ct));
        Assert.Equal(263, drop.Code);
        await txn.CommitTransactionAsync(Ct);

        Assert.Equal([Id(1), Id(2)], await AllAsync(coll));
        Assert.Contains("other", await (await db.ListCollectionNamesAsync(cancellationToken: Ct)).ToListAsync(Ct));
    }

    [Fact]
    public async Task Blocked_plain_write_honours_maxTimeMS()
    {
        var db = shared.NewDatabase("txnmaxtime");
        var coll = await SeededAsync(db, new BsonDocument { { "_id", 1 }, { "n", 0 } });
        using var txn = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        txn.StartTransaction();
        await coll.UpdateOneAsync(txn, Id(1), Inc("n", 1), cancellationToken: Ct);

        var command = new BsonDocument
        {
            { "update", "c" },
            { "updates", new BsonArray { new BsonDocument { { "q", Id(1) }, { "u", Inc("n", 10) } } } },
            { "maxTimeMS", 100 },
        };
        var expired = await Assert.ThrowsAsync<MongoExecutionTimeoutException>(() => db.RunCommandAsync<BsonDocument>(command, cancellationToken: Ct));
        Assert.Equal(50, expired.Code);
        await txn.CommitTransactionAsync(Ct);

        Assert.Equal(1, (await coll.Find(Id(1)).SingleAsync(Ct))["n"].AsInt32);
    }

    [Fact]
    public async Task Concurrent_WithTransaction_increments_all_count()
    {
        const int Callers = 3, Increments = 8;
        var coll = await SeededAsync(shared.NewDatabase("txncounter"), new BsonDocument { { "_id", "counter" }, { "n", 0 } });
        var counter = new BsonDocument("_id", "counter");

        await Task.WhenAll(Enumerable.Range(0, Callers).Select(async _ =>
        {
            using var session = await shared.Client.StartSessionAsync(cancellationToken: Ct);
            for (int i = 0; i < Increments; i++)
            {
                // Read-modify-write: correct only if a stale read cannot commit (snapshot + write conflicts).
                await session.WithTransactionAsync(async (s, ct) =>
                {
                    var current = await coll.Find(s, counter).SingleAsync(ct);
                    await coll.UpdateOneAsync(s, counter, Set("n", current["n"].AsInt32 + 1), cancellationToken: ct);
                    return true;
                }, cancellationToken: Ct);
            }
        }));

        Assert.Equal(Callers * Increments, (await coll.Find(counter).SingleAsync(Ct))["n"].AsInt32);
    }

    [Fact]
    public async Task Committed_entry_and_documents_become_visible_together()
    {
        var coll = await SeededAsync(shared.NewDatabase("txnoplog"), Id(0));
        var ns = coll.CollectionNamespace.FullName;
        var start = await shared.LastTimestampAsync();
        var entryFilter = new BsonDocument { { "ts", new BsonDocument("$gt", start) }, { "o.applyOps.ns", ns } };

        using var txn = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        txn.StartTransaction();
        await coll.InsertOneAsync(txn, Id(1), cancellationToken: Ct);
        await coll.InsertOneAsync(txn, Id(2), cancellationToken: Ct);

        using var committed = new CancellationTokenSource();
        var observations = new List<(bool DocsFirst, bool Docs, bool Entry)>();
        var watcher = Task.Run(async () =>
        {
            bool last = false;
            while (!last)
            {
                last = committed.IsCancellationRequested;
                long docs = await coll.CountDocumentsAsync(new BsonDocument("_id", new BsonDocument("$in", new BsonArray { 1, 2 })), cancellationToken: Ct);
                bool entry = await shared.Oplog.Find(entryFilter).AnyAsync(Ct);
                observations.Add((true, docs == 2, entry));
                Assert.True(docs is 0 or 2, $"saw {docs} of the transaction's 2 documents");
                entry = await shared.Oplog.Find(entryFilter).AnyAsync(Ct);
                docs = await coll.CountDocumentsAsync(new BsonDocument("_id", new BsonDocument("$in", new BsonArray { 1, 2 })), cancellationToken: Ct);
                observations.Add((false, docs == 2, entry));
            }
        }, Ct);
        await Task.Delay(50, Ct);
        await txn.CommitTransactionAsync(Ct);
        await committed.CancelAsync();
        await watcher;

        // Entry seen first => its documents are visible (on any server).
        Assert.All(observations.Where(o => !o.DocsFirst && o.Entry), o => Assert.True(o.Docs));
        if (shared.Endpoint.IsTestServer)
        {
            // Documents seen first => the entry is already there (a real server may lag its oplog visibility point briefly).
            Assert.All(observations.Where(o => o.DocsFirst && o.Docs), o => Assert.True(o.Entry));
        }
        Assert.Contains(observations, o => o.Docs && o.Entry);
        var entry = await shared.Oplog.Find(entryFilter).SingleAsync(Ct);
        Assert.Equal([1, 2], entry["o"]["applyOps"].AsBsonArray.Select(o => o["o"]["_id"].AsInt32));
    }

    [Fact]
    public async Task Aborted_and_conflicted_transactions_log_nothing()
    {
        var db = shared.NewDatabase("txnnolog");
        var coll = await SeededAsync(db, new BsonDocument { { "_id", 1 }, { "v", 0 } });
        var start = await shared.InsertTimestampAsync(coll.CollectionNamespace.FullName, 1);

        using var holder = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        using var loser = await shared.Client.StartSessionAsync(cancellationToken: Ct);
        holder.StartTransaction();
        loser.StartTransaction();
        await coll.InsertOneAsync(loser, Id(2), cancellationToken: Ct);
        await coll.UpdateOneAsync(holder, Id(1), Set("v", 1), cancellationToken: Ct);
        await Assert.ThrowsAsync<MongoCommandException>(() => coll.UpdateOneAsync(loser, Id(1), Set("v", 2), cancellationToken: Ct));
        await Assert.ThrowsAsync<MongoCommandException>(() => loser.CommitTransactionAsync(Ct));
        await holder.AbortTransactionAsync(Ct);

        Assert.Empty(await shared.OplogOfAsync(db.DatabaseNamespace.DatabaseName, start));
        Assert.Empty(await shared.Oplog.Find(new BsonDocument { { "ts", new BsonDocument("$gt", start) }, { "o.applyOps.ns", coll.CollectionNamespace.FullName } }).ToListAsync(Ct));
        Assert.Equal([new BsonDocument { { "_id", 1 }, { "v", 0 } }], await AllAsync(coll));
    }

    [Fact]
    public async Task Server_shutdown_ends_a_write_waiting_for_a_transaction()
    {
        var endpoint = await MongoEndpoint.StartAsync(cancellationToken: Ct);
        var server = endpoint.RequireTestServer("stopping the server under a waiting write");
        var settings = MongoClientSettings.FromConnectionString(endpoint.ConnectionString);
        settings.RetryWrites = false;
        settings.ServerSelectionTimeout = TimeSpan.FromSeconds(1);
        using var client = new MongoClient(settings);
        var coll = client.GetDatabase("shutdown").GetCollection<BsonDocument>("c");
        await coll.InsertOneAsync(new BsonDocument { { "_id", 1 }, { "n", 0 } }, cancellationToken: Ct);
        using var txn = await client.StartSessionAsync(cancellationToken: Ct);
        txn.StartTransaction();
        await coll.UpdateOneAsync(txn, Id(1), Inc("n", 1), cancellationToken: Ct);
        var plain = coll.UpdateOneAsync(Id(1), Inc("n", 1), cancellationToken: Ct);
        await Task.Delay(100, Ct);

        await server.DisposeAsync(); // must not wait for the transaction (it never ends)

        await Assert.ThrowsAnyAsync<MongoException>(() => plain);
    }

    [Fact]
    public async Task Abandoned_transaction_is_aborted_after_the_lifetime_limit_and_unblocks_writers()
    {
        await using var endpoint = await MongoEndpoint.StartAsync(options: new MongoTestServerOptions { TransactionLifetimeLimit = TimeSpan.FromMilliseconds(500) }, cancellationToken: Ct);
        endpoint.RequireTestServer("a sub-second transactionLifetimeLimit is a test-server knob");
        using var client = new MongoClient(endpoint.ConnectionString);
        var coll = client.GetDatabase("abandoned").GetCollection<BsonDocument>("c");
        await coll.InsertOneAsync(new BsonDocument { { "_id", 1 }, { "n", 0 } }, cancellationToken: Ct);

        using var abandoned = await client.StartSessionAsync(cancellationToken: Ct);
        abandoned.StartTransaction();
        await coll.UpdateOneAsync(abandoned, Id(1), Inc("n", 100), cancellationToken: Ct);

        // Blocked by the abandoned transaction until the server aborts it; then applied on the committed value.
        await coll.UpdateOneAsync(Id(1), Inc("n", 1), cancellationToken: Ct);

        Assert.Equal(1, (await coll.Find(Id(1)).SingleAsync(Ct))["n"].AsInt32);
        var commit = await Assert.ThrowsAsync<MongoCommandException>(() => abandoned.CommitTransactionAsync(Ct));
        Assert.Equal(251, commit.Code);
    }
}
