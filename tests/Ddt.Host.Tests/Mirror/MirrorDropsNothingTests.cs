using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Mirror;
using WapBackup.Shared.Oplog;
using WapBackup.Testing.Mongo;
using static WapBackup.Ddt.Host.Tests.Mirror.HandWrittenOplog;

namespace WapBackup.Ddt.Host.Tests.Mirror;

/// <summary>
/// Issue 8, "The mirror drops nothing": hand-written oplogs (exact interleavings) mirrored to a target
/// (<see cref="MongoRoles.MirrorTarget"/>); every write the source made is on the target, or the mirror stops
/// with an error that says what and where.
/// </summary>
public sealed class MirrorDropsNothingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static OplogClassifier ClassifierFor(string database) => new(new NamespaceFilter([database], []), usersAndRolesInScope: false);

    private static async Task<IMongoCollection<BsonDocument>> UsersWithTakenEmailAsync(MongoClient target, string database)
    {
        var users = target.GetDatabase(database).GetCollection<BsonDocument>("users");
        await users.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("email"), new CreateIndexOptions { Unique = true }), cancellationToken: Ct);
        await users.InsertOneAsync(new BsonDocument { { "_id", 99 }, { "email", "taken@x" } }, cancellationToken: Ct);
        return users;
    }

    [Theory]
    [InlineData(MirrorMode.ApplyOps)]
    [InlineData(MirrorMode.Crud)]
    public async Task A_unique_index_conflict_from_parallel_apply_is_retried_and_never_loses_the_insert(MirrorMode mode)
    {
        // 200 swaps on a unique email index: A changes its email x to y, then B inserts x. When B's worker
        // runs before A's, B meets E11000; the mirror must retry it once A's update is applied, every time.
        const int Swaps = 200;
        string db = MongoEndpoint.UniqueDatabaseName("swap");
        string ns = db + ".users";
        var entries = new List<BsonDocument> { Create(1, db, "users"), CreateUniqueIndex(2, db, "users", "email") };
        int ts = 3;
        for (int i = 0; i < Swaps; i++)
        {
            entries.Add(Insert(ts++, ns, new BsonDocument { { "_id", $"a{i}" }, { "email", $"x{i}" } }));
        }
        for (int i = 0; i < Swaps; i++)
        {
            entries.Add(Set(ts++, ns, $"a{i}", "email", $"y{i}"));
            entries.Add(Insert(ts++, ns, new BsonDocument { { "_id", $"b{i}" }, { "email", $"x{i}" } }));
        }
        await using var oplog = await HandWrittenOplog.StartAsync([.. entries]);
        await using var mirrorTarget = await MirrorTarget.StartAsync(oplog.RepositoryId, [db]);
        var applier = new MirrorApplier(oplog.Store, mirrorTarget.Client, oplog.RepositoryId, ClassifierFor(db), new MirrorOptions(mode, 4, BatchSize: 4));

        Assert.Equal(new OplogTimestamp(100, (uint)ts - 1), await applier.ApplyThroughAsync(new OplogTimestamp(100, (uint)ts - 1), Ct));

        var users = (await mirrorTarget.Client.GetDatabase(db).GetCollection<BsonDocument>("users").Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct))
            .ToDictionary(u => u["_id"].AsString, u => u["email"].AsString);
        var expected = Enumerable.Range(0, Swaps).SelectMany(i => new[] { ($"a{i}", $"y{i}"), ($"b{i}", $"x{i}") }).ToDictionary(p => p.Item1, p => p.Item2);
        Assert.True(expected.Count == users.Count, $"{users.Count} of {expected.Count} users on the target; {applier.Stats}");
        Assert.Equal(expected.OrderBy(p => p.Key), users.OrderBy(p => p.Key));
    }

    [Theory]
    [InlineData(MirrorMode.ApplyOps)]
    [InlineData(MirrorMode.Crud)]
    public async Task A_unique_index_conflict_that_persists_stops_the_mirror_naming_ts_namespace_and_key(MirrorMode mode)
    {
        string db = MongoEndpoint.UniqueDatabaseName("taken");
        string ns = db + ".users";
        await using var oplog = await HandWrittenOplog.StartAsync(
            Insert(1, ns, new BsonDocument { { "_id", 1 }, { "email", "a@x" } }),
            Insert(2, ns, new BsonDocument { { "_id", 2 }, { "email", "taken@x" } }),
            Insert(3, ns, new BsonDocument { { "_id", 3 }, { "email", "c@x" } }));
        await using var mirrorTarget = await MirrorTarget.StartAsync(oplog.RepositoryId, [db]);
        await UsersWithTakenEmailAsync(mirrorTarget.Client, db); // the target already differs from the source
        var applier = new MirrorApplier(oplog.Store, mirrorTarget.Client, oplog.RepositoryId, ClassifierFor(db), new MirrorOptions(mode, 2));

        var error = await Assert.ThrowsAsync<MirrorApplyException>(() => applier.ApplyThroughAsync(new OplogTimestamp(100, 3), Ct));

        Assert.Contains("ts 100:2", error.Message, StringComparison.Ordinal);
        Assert.Contains(ns, error.Message, StringComparison.Ordinal);
        Assert.Contains("taken@x", error.Message, StringComparison.Ordinal);
        Assert.Null(await new MirrorCheckpointStore(mirrorTarget.Client, oplog.RepositoryId).LoadAsync(Ct)); // nothing claimed past it
    }

    [Theory]
    [InlineData(MirrorMode.ApplyOps)]
    [InlineData(MirrorMode.Crud)]
    public async Task A_committed_transaction_that_cannot_apply_applies_nothing_and_stops(MirrorMode mode)
    {
        string db = MongoEndpoint.UniqueDatabaseName("txn");
        string ns = db + ".users";
        await using var oplog = await HandWrittenOplog.StartAsync(
            TransactionEntry(1, session: 1, txnNumber: 5, [
                InnerInsert(ns, new BsonDocument { { "_id", 1 }, { "email", "new@x" } }),
                InnerInsert(ns, new BsonDocument { { "_id", 2 }, { "email", "taken@x" } }),
            ], previous: null, partial: false));
        await using var mirrorTarget = await MirrorTarget.StartAsync(oplog.RepositoryId, [db]);
        var users = await UsersWithTakenEmailAsync(mirrorTarget.Client, db);
        var applier = new MirrorApplier(oplog.Store, mirrorTarget.Client, oplog.RepositoryId, ClassifierFor(db), new MirrorOptions(mode, 2));

        var error = await Assert.ThrowsAsync<MirrorApplyException>(() => applier.ApplyThroughAsync(new OplogTimestamp(100, 1), Ct));

        Assert.Contains("ts 100:1", error.Message, StringComparison.Ordinal);
        Assert.Contains("taken@x", error.Message, StringComparison.Ordinal);
        // Not op by op: the transaction's first insert, which conflicts with nothing, is not there either.
        Assert.Equal([99], (await users.Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct)).Select(u => u["_id"].AsInt32));
    }

    [Theory]
    [InlineData(MirrorMode.ApplyOps)]
    [InlineData(MirrorMode.Crud)]
    public async Task A_rename_from_outside_the_filter_into_it_stops_asking_for_reinit_naming_both_namespaces(MirrorMode mode)
    {
        string db = MongoEndpoint.UniqueDatabaseName("rename");
        await using var oplog = await HandWrittenOplog.StartAsync(
            Create(1, db, "orders"),
            Create(2, db, "staging"),
            Insert(3, db + ".staging", new BsonDocument("_id", 1)),
            Entry(4, "c", "admin.$cmd", new BsonDocument { { "renameCollection", db + ".staging" }, { "to", db + ".orders" }, { "dropTarget", true }, { "stayTemp", false } }));
        await using var mirrorTarget = await MirrorTarget.StartAsync(oplog.RepositoryId, [db]);
        var onlyOrders = new OplogClassifier(new NamespaceFilter([db + ".orders"], []), usersAndRolesInScope: false);
        var applier = new MirrorApplier(oplog.Store, mirrorTarget.Client, oplog.RepositoryId, onlyOrders, new MirrorOptions(mode, 2));

        var error = await Assert.ThrowsAsync<MirrorApplyException>(() => applier.ApplyThroughAsync(new OplogTimestamp(100, 4), Ct));

        Assert.Contains("re-init", error.Message, StringComparison.Ordinal);
        Assert.Contains(db + ".staging", error.Message, StringComparison.Ordinal);
        Assert.Contains(db + ".orders", error.Message, StringComparison.Ordinal);
        Assert.Contains("ts 100:4", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_transaction_chain_over_16_MiB_checkpoints_its_position_and_resumes_without_reapplying()
    {
        // 20 partialTxn entries of 1 MiB, paused after 18 of them: the chain is open at the pause, and the
        // 18 MiB it has buffered cannot be kept in a checkpoint document (16 MiB). A plain insert at the
        // pause must not be applied twice.
        const int Parts = 20;
        const int PauseAfter = 17;
        string db = MongoEndpoint.UniqueDatabaseName("chain");
        string big = db + ".big";
        string pad = new('p', 256 * 1024);
        IEnumerable<BsonDocument> PartOps(int part) => Enumerable.Range(0, 4).Select(k => InnerInsert(big, new BsonDocument { { "_id", part * 4 + k }, { "pad", pad } }));
        var entries = new List<BsonDocument> { Create(1, db, "big"), Create(2, db, "small") };
        int ts = 3;
        int? previous = null;
        int pause = 0;
        for (int part = 0; part < Parts; part++)
        {
            entries.Add(TransactionEntry(ts, session: 7, txnNumber: 1, PartOps(part), previous, partial: true));
            previous = ts++;
            if (part == PauseAfter)
            {
                pause = ts;
                entries.Add(Insert(ts++, db + ".small", new BsonDocument("_id", "mid")));
            }
        }
        await using var oplog = await HandWrittenOplog.StartAsync([.. entries]);
        await using var mirrorTarget = await MirrorTarget.StartAsync(oplog.RepositoryId, [db]);
        var target = mirrorTarget.Client;
        var options = new MirrorOptions(MirrorMode.ApplyOps, 2);

        var first = new MirrorApplier(oplog.Store, target, oplog.RepositoryId, ClassifierFor(db), options);
        Assert.Equal(new OplogTimestamp(100, (uint)pause), await first.ApplyThroughAsync(new OplogTimestamp(100, (uint)pause), Ct, requireConsistent: false));
        var small = target.GetDatabase(db).GetCollection<BsonDocument>("small");
        Assert.Equal(1, await small.CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));
        await small.DeleteOneAsync(new BsonDocument("_id", "mid"), Ct); // a re-applied insert would bring it back
        var checkpoint = (await new MirrorCheckpointStore(target, oplog.RepositoryId).LoadAsync(Ct))!;
        Assert.Equal(new OplogTimestamp(100, (uint)pause), checkpoint.AppliedThrough);
        var open = Assert.Single(checkpoint.OpenTransactions); // a position, not the 18 MiB buffered so far
        Assert.Equal((new OplogTimestamp(100, 3), 1L), (open.FirstTimestamp, open.TxnNumber));

        int commit = ts;
        await oplog.AppendAsync(TransactionEntry(commit, session: 7, txnNumber: 1, PartOps(Parts), previous, partial: false));
        var resumed = new MirrorApplier(oplog.Store, target, oplog.RepositoryId, ClassifierFor(db), options);
        Assert.Equal(new OplogTimestamp(100, (uint)commit), await resumed.ApplyThroughAsync(new OplogTimestamp(100, (uint)commit), Ct));

        Assert.Equal((Parts + 1) * 4, await target.GetDatabase(db).GetCollection<BsonDocument>("big").CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));
        Assert.Equal(0, await small.CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));
        Assert.Equal(1, resumed.Stats.Transactions);
    }

    [Fact]
    public async Task A_vectored_insert_is_no_barrier_for_other_namespaces_and_all_its_inserts_land()
    {
        // MongoDB 8.0 logs an insertMany as one applyOps with multiOpType: 1 (no transaction): its inserts go
        // to the workers by document like single inserts, so no worker drains for it (Barriers counts drains).
        string db = MongoEndpoint.UniqueDatabaseName("vectored");
        var vectored = Entry(4, "c", "admin.$cmd", new BsonDocument("applyOps",
            new BsonArray(Enumerable.Range(0, 20).Select(i => InnerInsert(db + ".b", new BsonDocument { { "_id", i }, { "v", i } })))));
        vectored.Add("lsid", Session(2));
        vectored.Add("txnNumber", 3L);
        vectored.Add("multiOpType", 1);
        await using var oplog = await HandWrittenOplog.StartAsync(
            Create(1, db, "a"),
            Create(2, db, "b"),
            Insert(3, db + ".a", new BsonDocument("_id", 1)),
            vectored,
            Insert(5, db + ".a", new BsonDocument("_id", 2)));
        await using var mirrorTarget = await MirrorTarget.StartAsync(oplog.RepositoryId, [db]);
        var applier = new MirrorApplier(oplog.Store, mirrorTarget.Client, oplog.RepositoryId, ClassifierFor(db), new MirrorOptions(MirrorMode.ApplyOps, 4));

        Assert.Equal(new OplogTimestamp(100, 5), await applier.ApplyThroughAsync(new OplogTimestamp(100, 5), Ct));

        Assert.Equal(2, applier.Stats.Barriers); // the two creates only
        Assert.Equal(0, applier.Stats.Transactions);
        var database = mirrorTarget.Client.GetDatabase(db);
        Assert.Equal(Enumerable.Range(0, 20), (await database.GetCollection<BsonDocument>("b").Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct)).Select(d => d["_id"].AsInt32).Order());
        Assert.Equal(2, await database.GetCollection<BsonDocument>("a").CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));
    }

    [Fact]
    public async Task ApplyThrough_fails_at_its_deadline_naming_the_open_transaction()
    {
        string db = MongoEndpoint.UniqueDatabaseName("open");
        await using var oplog = await HandWrittenOplog.StartAsync(
            Create(1, db, "a"),
            TransactionEntry(2, session: 3, txnNumber: 9, [InnerInsert(db + ".a", new BsonDocument("_id", 1))], previous: null, partial: true));
        await using var mirrorTarget = await MirrorTarget.StartAsync(oplog.RepositoryId, [db]);
        var applier = new MirrorApplier(oplog.Store, mirrorTarget.Client, oplog.RepositoryId, ClassifierFor(db), new MirrorOptions(MirrorMode.ApplyOps, 2));

        var error = await Assert.ThrowsAsync<MirrorApplyException>(
            () => applier.ApplyThroughAsync(new OplogTimestamp(100, 2), Ct, transactionDeadline: TimeSpan.FromMilliseconds(200)));

        Assert.Contains($"lsid {new Guid(3, 0, 0, new byte[8])}", error.Message, StringComparison.Ordinal);
        Assert.Contains("txnNumber 9", error.Message, StringComparison.Ordinal);
        Assert.Contains("first ts 100:2", error.Message, StringComparison.Ordinal);
        var checkpoint = (await new MirrorCheckpointStore(mirrorTarget.Client, oplog.RepositoryId).LoadAsync(Ct))!;
        Assert.Equal(new OplogTimestamp(100, 2), Assert.Single(checkpoint.OpenTransactions).FirstTimestamp); // kept for the next try
        Assert.Equal(0, await mirrorTarget.Client.GetDatabase(db).GetCollection<BsonDocument>("a").CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: Ct));
    }

    [Fact]
    public async Task A_transaction_that_creates_a_collection_is_reapplied_whole_after_a_restart_in_crud_mode()
    {
        // Inside a driver transaction a create that finds its collection (the transaction was applied before the
        // restart) would abort the whole transaction; the re-application must succeed like the first one.
        string db = MongoEndpoint.UniqueDatabaseName("ddltxn");
        await using var oplog = await HandWrittenOplog.StartAsync(
            TransactionEntry(1, session: 4, txnNumber: 1, [
                new BsonDocument { { "op", "c" }, { "ns", db + ".$cmd" }, { "o", new BsonDocument("create", "fresh") } },
                InnerInsert(db + ".fresh", new BsonDocument("_id", 1)),
            ], previous: null, partial: false));
        await using var mirrorTarget = await MirrorTarget.StartAsync(oplog.RepositoryId, [db]);
        var options = new MirrorOptions(MirrorMode.Crud, 2);
        var through = new OplogTimestamp(100, 1);
        Assert.Equal(through, await new MirrorApplier(oplog.Store, mirrorTarget.Client, oplog.RepositoryId, ClassifierFor(db), options).ApplyThroughAsync(through, Ct));
        await new MirrorCheckpointStore(mirrorTarget.Client, oplog.RepositoryId).SaveAsync(new MirrorCheckpoint(OplogTimestamp.Zero, []), Ct); // died before its checkpoint

        var again = new MirrorApplier(oplog.Store, mirrorTarget.Client, oplog.RepositoryId, ClassifierFor(db), options);
        Assert.Equal(through, await again.ApplyThroughAsync(through, Ct));

        Assert.Equal(1, again.Stats.Transactions);
        Assert.Equal([1], (await mirrorTarget.Client.GetDatabase(db).GetCollection<BsonDocument>("fresh").Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(Ct)).Select(d => d["_id"].AsInt32));
    }
}
