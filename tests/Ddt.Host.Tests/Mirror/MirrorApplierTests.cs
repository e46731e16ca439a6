using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Host.Tests.Capture;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Capture;
using WapBackup.Shared.Oplog;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Mirror;

/// <summary>
/// Source workload captured into the 57019 store and mirrored through the driver to the target
/// (<see cref="MongoRoles"/>: test servers, or MONGODB_URI, _2, _3); the target must end up equal to
/// the source. Each test writes one database of its own and mirrors through a classifier that
/// admits only that database, so a shared source's other traffic (other tests, a real primary's
/// no-ops) is filtered out, and only that database is compared on the target.
/// </summary>
public sealed class MirrorApplierTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Only the test's own database is mirrored.</summary>
    private static OplogClassifier ClassifierFor(string database) => new(new NamespaceFilter([database], []), usersAndRolesInScope: false);

    private static OplogClassifier ClassifierFor(CaptureHarness h) => ClassifierFor(h.Database);

    /// <summary>Inserts, $set/$unset/array updates, a replacement, deletes, an index, a drop and a transaction.</summary>
    private static async Task WorkloadAsync(MongoClient client, string database, int documents)
    {
        var db = client.GetDatabase(database);
        var orders = db.GetCollection<BsonDocument>("orders");
        await db.CreateCollectionAsync("orders", cancellationToken: Ct);
        await orders.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("customer")), cancellationToken: Ct);
        for (int i = 0; i < documents; i++)
        {
            await orders.InsertOneAsync(new BsonDocument
            {
                { "_id", i }, { "customer", $"c{i % 7}" }, { "items", new BsonArray { 1, 2, 3 } }, { "note", "n" }, { "total", i * 1.5 },
            }, cancellationToken: Ct);
        }
        for (int i = 0; i < documents; i += 3)
        {
            await orders.UpdateOneAsync(new BsonDocument("_id", i), new BsonDocument
            {
                { "$set", new BsonDocument { { "status", "paid" }, { "items.1", 20 } } },
                { "$unset", new BsonDocument("note", "") },
            }, cancellationToken: Ct);
            await orders.UpdateOneAsync(new BsonDocument("_id", i), new BsonDocument("$push", new BsonDocument("items", 4)), cancellationToken: Ct);
        }
        await orders.ReplaceOneAsync(new BsonDocument("_id", 1), new BsonDocument { { "_id", 1 }, { "replaced", true } }, cancellationToken: Ct);
        for (int i = 2; i < documents; i += 5)
        {
            await orders.DeleteOneAsync(new BsonDocument("_id", i), Ct);
        }
        await db.GetCollection<BsonDocument>("scratch").InsertOneAsync(new BsonDocument("_id", "x"), cancellationToken: Ct);
        await db.DropCollectionAsync("scratch", Ct);

        using var session = await client.StartSessionAsync(cancellationToken: Ct);
        session.StartTransaction();
        await orders.InsertOneAsync(session, new BsonDocument { { "_id", 10_000 }, { "customer", "txn" } }, cancellationToken: Ct);
        await orders.UpdateOneAsync(session, new BsonDocument("_id", 0), new BsonDocument("$set", new BsonDocument("inTxn", true)), cancellationToken: Ct);
        await session.CommitTransactionAsync(Ct);
    }

    /// <summary>The test's database holds the same collections and documents on both sides.</summary>
    private static async Task AssertSameAsync(MongoClient source, MongoClient target, string database, params string[] collections)
    {
        foreach (string name in collections)
        {
            var expected = await source.GetDatabase(database).GetCollection<BsonDocument>(name).Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct);
            var actual = await target.GetDatabase(database).GetCollection<BsonDocument>(name).Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct);
            Assert.NotEmpty(expected);
            Assert.Equal(expected.Select(d => d.ToJson()), actual.Select(d => d.ToJson()));
        }
        var sourceNames = await (await source.GetDatabase(database).ListCollectionNamesAsync(cancellationToken: Ct)).ToListAsync(Ct);
        var targetNames = await (await target.GetDatabase(database).ListCollectionNamesAsync(cancellationToken: Ct)).ToListAsync(Ct);
        Assert.Equal(sourceNames.Order(), targetNames.Order());
    }

    private static async Task<CaptureHarness> CapturedWorkloadAsync(S3Fixture s3, int documents, MongoTestServerOptions? options = null)
    {
        var h = await CaptureHarness.StartAsync(s3, options);
        await h.SourceClient.AppendOplogNoteAsync("start", Ct);
        var running = h.Start();
        await h.WaitUntilDurableAsync(running);
        await WorkloadAsync(h.SourceClient, h.Database, documents);
        await running.CatchUpAndStopAsync(h);
        return h;
    }

    [Theory]
    [InlineData(MirrorMode.ApplyOps, 1)]
    [InlineData(MirrorMode.ApplyOps, 4)]
    [InlineData(MirrorMode.Crud, 1)]
    [InlineData(MirrorMode.Crud, 4)]
    public async Task Mirror_reproduces_the_source(MirrorMode mode, int workers)
    {
        await using var h = await CapturedWorkloadAsync(s3, 60);
        await using var mirrorTarget = await MirrorTarget.StartAsync(h.RepositoryId, [h.Database]);
        var target = mirrorTarget.Client;
        var applier = new MirrorApplier(h.Store, target, h.RepositoryId, ClassifierFor(h), new MirrorOptions(mode, workers, BatchSize: 16));

        var last = (await h.Store.LastAsync(Ct))!.Value.Ts;
        var reached = await applier.ApplyThroughAsync(last, Ct);

        Assert.Equal(last, reached);
        await AssertSameAsync(h.SourceClient, target, h.Database, "orders");
        Assert.Equal(1, applier.Stats.Transactions);
        Assert.Equal(0, applier.Stats.UniqueIndexRetries);
        Assert.True(applier.Stats.Updates >= 40, applier.Stats.ToString());
        Assert.True(applier.Stats.Skipped >= 1, "the no-op must be skipped");
        var indexes = await (await target.GetDatabase(h.Database).GetCollection<BsonDocument>("orders").Indexes.ListAsync(Ct)).ToListAsync(Ct);
        Assert.Contains(indexes, i => i["name"] == "customer_1");
    }

    [Theory]
    [InlineData(MirrorMode.ApplyOps)]
    [InlineData(MirrorMode.Crud)]
    public async Task Restart_from_an_older_checkpoint_reapplies_idempotently(MirrorMode mode)
    {
        await using var h = await CapturedWorkloadAsync(s3, 30);
        await using var mirrorTarget = await MirrorTarget.StartAsync(h.RepositoryId, [h.Database]);
        var target = mirrorTarget.Client;
        var stored = await h.StoredAsync();
        var options = new MirrorOptions(mode, 3, BatchSize: 8);

        // Apply everything, then pretend the process died right after the first third had been checkpointed.
        await new MirrorApplier(h.Store, target, h.RepositoryId, ClassifierFor(h), options).ApplyThroughAsync(stored[^1].Ts, Ct);
        var checkpoints = new MirrorCheckpointStore(target, h.RepositoryId);
        await checkpoints.SaveAsync(new MirrorCheckpoint(stored[stored.Count / 3].Ts, []), Ct);

        var again = new MirrorApplier(h.Store, target, h.RepositoryId, ClassifierFor(h), options);
        var reached = await again.ApplyThroughAsync(stored[^1].Ts, Ct);

        Assert.Equal(stored[^1].Ts, reached);
        Assert.True(again.Stats.Applied > 0);
        await AssertSameAsync(h.SourceClient, target, h.Database, "orders");
        Assert.Equal(stored[^1].Ts, (await checkpoints.LoadAsync(Ct))!.AppliedThrough);
    }

    [Fact]
    public async Task Pausing_inside_a_chained_transaction_stops_only_after_its_commit()
    {
        // Transactions over 1 KiB of operations are written as partialTxn chains.
        await using var h = await CaptureHarness.StartAsync(s3, new MongoTestServerOptions { TransactionOplogEntryMaxBytes = 1024 });
        h.Source.RequireTestServer("a 1 KiB TransactionOplogEntryMaxBytes forces a partialTxn chain (a real server splits at 16 MB)");
        await h.SourceClient.AppendOplogNoteAsync("start", Ct);
        var running = h.Start();
        await h.WaitUntilDurableAsync(running);
        var orders = h.SourceClient.GetDatabase(h.Database).GetCollection<BsonDocument>("orders");
        await orders.InsertOneAsync(new BsonDocument("_id", -1), cancellationToken: Ct);
        using (var session = await h.SourceClient.StartSessionAsync(cancellationToken: Ct))
        {
            session.StartTransaction();
            for (int i = 0; i < 40; i++)
            {
                await orders.InsertOneAsync(session, new BsonDocument { { "_id", i }, { "pad", new string('p', 100) } }, cancellationToken: Ct);
            }
            await session.CommitTransactionAsync(Ct);
        }
        await running.CatchUpAndStopAsync(h);

        var stored = await h.StoredAsync();
        // Servers write partialTxn inside o (4.2+); older ones at the top level.
        static bool IsPartial(CapturedEntry e) => new OplogEntry(e.Bytes) is var x && (x.PartialTxn || x.Object?.Find("partialTxn"u8).Exists == true);
        var partial = stored.First(IsPartial);
        var commit = stored.Last(e => new OplogEntry(e.Bytes).IsApplyOps);
        Assert.True(commit.Ts > partial.Ts, "the transaction must span several entries");

        await using var mirrorTarget = await MirrorTarget.StartAsync(h.RepositoryId, [h.Database]);
        var target = mirrorTarget.Client;
        var applier = new MirrorApplier(h.Store, target, h.RepositoryId, ClassifierFor(h), new MirrorOptions(MirrorMode.ApplyOps, 2));

        var paused = await applier.ApplyThroughAsync(partial.Ts, Ct);

        Assert.Equal(commit.Ts, paused);
        Assert.Equal(41, await target.GetDatabase(h.Database).GetCollection<BsonDocument>("orders").CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));
    }

    [Fact]
    public async Task Unknown_command_stops_with_its_name_and_ts()
    {
        string db = MongoEndpoint.UniqueDatabaseName("shop");
        await using var oplog = await HandWrittenOplog.StartAsync(
            HandWrittenOplog.Insert(1, db + ".a", new BsonDocument("_id", 1)),
            HandWrittenOplog.Entry(2, "c", db + ".$cmd", new BsonDocument("frobnicate", "a")),
            HandWrittenOplog.Entry(3, "xi", db + ".a", new BsonDocument("_id", 2)));
        var (store, repositoryId) = (oplog.Store, oplog.RepositoryId);
        await using var mirrorTarget = await MirrorTarget.StartAsync(repositoryId, [db]);
        var target = mirrorTarget.Client;
        var applier = new MirrorApplier(store, target, repositoryId, ClassifierFor(db), new MirrorOptions(MirrorMode.ApplyOps, 2));

        var error = await Assert.ThrowsAsync<MirrorApplyException>(() => applier.ApplyThroughAsync(new OplogTimestamp(100, 3), Ct));

        Assert.Contains("frobnicate", error.Message, StringComparison.Ordinal);
        Assert.Contains(new OplogTimestamp(100, 2).ToString(), error.Message, StringComparison.Ordinal);
        Assert.Null(await new MirrorCheckpointStore(target, repositoryId).LoadAsync(Ct)); // nothing claimed past the error
    }

    [Theory]
    [InlineData(MirrorMode.ApplyOps)]
    [InlineData(MirrorMode.Crud)]
    public async Task Documents_the_collection_validator_rejects_are_applied_as_the_oplog_holds_them(MirrorMode mode)
    {
        // The source accepted them (written with bypassDocumentValidation, or before the validator was tightened);
        // the copy must hold what the source holds, so the mirror's writes bypass validation as mongorestore's do.
        string db = MongoEndpoint.UniqueDatabaseName("shop");
        var create = HandWrittenOplog.Entry(1, "c", db + ".$cmd", new BsonDocument
        {
            { "create", "a" }, { "validator", new BsonDocument("qty", new BsonDocument("$gte", 0)) },
        });
        await using var oplog = await HandWrittenOplog.StartAsync(
            create,
            HandWrittenOplog.Insert(2, db + ".a", new BsonDocument { { "_id", 1 }, { "qty", -5 } }),
            HandWrittenOplog.Set(3, db + ".a", 1, "note", "kept"),
            HandWrittenOplog.Insert(4, db + ".a", new BsonDocument { { "_id", 2 }, { "qty", 3 } }));
        var (store, repositoryId) = (oplog.Store, oplog.RepositoryId);
        await using var mirrorTarget = await MirrorTarget.StartAsync(repositoryId, [db]);
        var target = mirrorTarget.Client;
        var applier = new MirrorApplier(store, target, repositoryId, ClassifierFor(db), new MirrorOptions(mode, 2));

        Assert.Equal(new OplogTimestamp(100, 4), await applier.ApplyThroughAsync(new OplogTimestamp(100, 4), Ct));

        var collection = target.GetDatabase(db).GetCollection<BsonDocument>("a");
        Assert.Equal(
            [new BsonDocument { { "_id", 1 }, { "qty", -5 }, { "note", "kept" } }.ToJson(), new BsonDocument { { "_id", 2 }, { "qty", 3 } }.ToJson()],
            (await collection.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct)).Select(d => d.ToJson()));
        // The validator itself is in force on the copy (a client write is refused): only the mirror bypasses it.
        var refused = await Assert.ThrowsAsync<MongoWriteException>(() => collection.InsertOneAsync(new BsonDocument { { "_id", 3 }, { "qty", -1 } }, cancellationToken: Ct));
        Assert.Equal(121, refused.WriteError.Code);
    }

    [Theory]
    [InlineData(MirrorMode.ApplyOps)]
    [InlineData(MirrorMode.Crud)]
    public async Task A_transaction_wholly_outside_the_namespace_filter_is_skipped_not_counted_as_applied(MirrorMode mode)
    {
        // On a shared source other writers' transactions are captured too; the filter drops their operations,
        // and the stats must not report them as applied transactions.
        string db = MongoEndpoint.UniqueDatabaseName("shop");
        string other = MongoEndpoint.UniqueDatabaseName("other");
        static BsonDocument Transaction(int increment, string ns, int id) => new()
        {
            { "ts", new BsonTimestamp(100, increment) }, { "t", 1L }, { "op", "c" }, { "ns", "admin.$cmd" },
            { "o", new BsonDocument("applyOps", new BsonArray { new BsonDocument { { "op", "i" }, { "ns", ns }, { "o", new BsonDocument("_id", id) } } }) },
        };
        var create = new BsonDocument { { "ts", new BsonTimestamp(100, 1) }, { "t", 1L }, { "op", "c" }, { "ns", db + ".$cmd" }, { "o", new BsonDocument("create", "a") } };
        await using var oplog = await HandWrittenOplog.StartAsync(create, Transaction(2, other + ".a", 1), Transaction(3, db + ".a", 2));
        var (store, repositoryId) = (oplog.Store, oplog.RepositoryId);
        await using var mirrorTarget = await MirrorTarget.StartAsync(repositoryId, [db]);
        var target = mirrorTarget.Client;
        var applier = new MirrorApplier(store, target, repositoryId, ClassifierFor(db), new MirrorOptions(mode, 2));

        Assert.Equal(new OplogTimestamp(100, 3), await applier.ApplyThroughAsync(new OplogTimestamp(100, 3), Ct));

        Assert.Equal(1, applier.Stats.Transactions);
        Assert.Equal(1, applier.Stats.Inserts);
        Assert.Equal(1, applier.Stats.Skipped);
        Assert.Equal([2], (await target.GetDatabase(db).GetCollection<BsonDocument>("a").Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct)).Select(d => d["_id"].AsInt32));
        Assert.DoesNotContain(other, await (await target.ListDatabaseNamesAsync(Ct)).ToListAsync(Ct));
    }

    [Fact]
    public async Task Follow_mode_keeps_the_target_in_step_with_a_running_capture()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        await h.SourceClient.AppendOplogNoteAsync("start", Ct);
        var capture = h.Start();
        await h.WaitUntilDurableAsync(capture);
        await using var mirrorTarget = await MirrorTarget.StartAsync(h.RepositoryId, [h.Database]);
        var target = mirrorTarget.Client;
        var applier = new MirrorApplier(h.Store, target, h.RepositoryId, ClassifierFor(h), new MirrorOptions(MirrorMode.ApplyOps, 2, CheckpointEvery: 50));
        using var stopFollowing = new CancellationTokenSource();
        var following = Task.Run(() => applier.FollowAsync(TimeSpan.FromMilliseconds(50), stopFollowing.Token), Ct);

        await WorkloadAsync(h.SourceClient, h.Database, 40);
        await capture.CatchUpAndStopAsync(h);
        var last = (await h.Store.LastAsync(Ct))!.Value.Ts;
        var checkpoints = new MirrorCheckpointStore(target, h.RepositoryId);
        for (int i = 0; i < 600 && (await checkpoints.LoadAsync(Ct))?.AppliedThrough != last; i++) await Task.Delay(50, Ct);
        await stopFollowing.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => following);

        Assert.Equal(last, (await checkpoints.LoadAsync(Ct))!.AppliedThrough);
        await AssertSameAsync(h.SourceClient, target, h.Database, "orders");
    }

    [Fact]
    public void Options_are_validated()
    {
        Assert.Contains("workers", Assert.Throws<ArgumentOutOfRangeException>(() => new MirrorOptions(MirrorMode.Crud, 0).Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("batch", Assert.Throws<ArgumentOutOfRangeException>(() => new MirrorOptions(MirrorMode.Crud, 1, BatchSize: 0).Validate()).Message, StringComparison.Ordinal);
    }
}
