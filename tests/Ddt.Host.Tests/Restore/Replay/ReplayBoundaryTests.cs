using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Host.Tests.Mirror;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Restore.Replay;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Storage;
using static WapBackup.Ddt.Host.Tests.Mirror.HandWrittenOplog;

namespace WapBackup.Ddt.Host.Tests.Restore.Replay;

/// <summary>Hand-written oplogs at the edges of a replay range: the end bound, open transactions, holes.</summary>
public sealed class ReplayBoundaryTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static OplogTimestamp At(int increment) => new(100, (uint)increment);

    private static async Task<List<BsonDocument>> DocumentsAsync(IMongoClient client, string ns) =>
        await client.GetDatabase(ns.Split('.')[0]).GetCollection<BsonDocument>(ns.Split('.')[1])
            .Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct);

    private static BsonDocument[] SplitTransactionOplog(string ns) =>
    [
        Entry(0, "n", "", new BsonDocument("msg", "base")), // the base ts: the replay runs after it
        Create(1, ns.Split('.')[0], ns.Split('.')[1]),
        Insert(2, ns, new BsonDocument("_id", "before")),
        TransactionEntry(3, 1, 1, [InnerInsert(ns, new BsonDocument("_id", "t1"))], previous: null, partial: true),
        Insert(4, ns, new BsonDocument("_id", "between")),
        TransactionEntry(5, 1, 1, [InnerInsert(ns, new BsonDocument("_id", "t2"))], previous: 3, partial: false),
        Insert(6, ns, new BsonDocument("_id", "after")),
    ];

    [Theory]
    [InlineData(4, new[] { "before", "between" }, 1)]
    [InlineData(5, new[] { "before", "between", "t1", "t2" }, 0)]
    [InlineData(6, new[] { "after", "before", "between", "t1", "t2" }, 0)]
    public async Task Transaction_straddling_TIME_is_not_applied_and_the_entry_at_TIME_is(int through, string[] expected, int open)
    {
        string db = "strad" + Guid.NewGuid().ToString("N")[..8];
        await using var oplog = await StartAsync(SplitTransactionOplog(db + ".c"));
        await using var target = await MirrorTarget.StartAsync(oplog.RepositoryId, [db]);
        var slices = new OplogSliceStore(new S3ObjectStore(s3.Client, await s3.NewBucketAsync()), "p", oplog.RepositoryId);
        var range = await new RestoreOplogSource(oplog.Store, slices).OpenAsync(At(0), At(through), ReplaySource.Auto, Ct);

        var report = await new OplogReplayer(target.Client, new ReplayOptions(Workers: 2))
            .ReplayAsync(range.ReadAsync(Ct), At(0), At(through), new NamespaceMap([db], [], []), null, Ct);

        Assert.Equal(expected, (await DocumentsAsync(target.Client, db + ".c")).Select(d => d["_id"].AsString));
        Assert.Equal(open, report.TransactionsNotCommittedByThrough.Count);
        Assert.Equal(ReplaySource.Store, range.Source);
    }

    [Fact]
    public async Task Gap_is_refused_before_any_write_naming_both_timestamps()
    {
        string db = "gap" + Guid.NewGuid().ToString("N")[..8];
        // The store starts at (100, 4): a replay from (100, 1) lacks (100, 2..3), and no slice holds them.
        await using var oplog = await StartAsync(Insert(4, db + ".c", new BsonDocument("_id", 4)), Insert(5, db + ".c", new BsonDocument("_id", 5)));
        var slices = new OplogSliceStore(new S3ObjectStore(s3.Client, await s3.NewBucketAsync()), "p", oplog.RepositoryId);
        var source = new RestoreOplogSource(oplog.Store, slices);

        var fromStore = await Assert.ThrowsAsync<OplogChainException>(() => source.OpenAsync(At(1), At(5), ReplaySource.Store, Ct));
        Assert.Contains(At(1).ToString(), fromStore.Message, StringComparison.Ordinal);
        Assert.Contains(At(4).ToString(), fromStore.Message, StringComparison.Ordinal);
        var auto = await Assert.ThrowsAsync<OplogChainException>(() => source.OpenAsync(At(1), At(5), ReplaySource.Auto, Ct));
        Assert.Contains(At(1).ToString(), auto.Message, StringComparison.Ordinal);
        var pastTheEnd = await Assert.ThrowsAsync<OplogChainException>(() => source.OpenAsync(At(4), At(9), ReplaySource.Store, Ct));
        Assert.Contains(At(9).ToString(), pastTheEnd.Message, StringComparison.Ordinal);
        Assert.Contains(At(5).ToString(), pastTheEnd.Message, StringComparison.Ordinal);

        // Held from (100, 4) on: served by the store.
        var held = await source.OpenAsync(At(4), At(5), ReplaySource.Auto, Ct);
        Assert.Equal(ReplaySource.Store, held.Source);
    }

    [Fact]
    public async Task Rename_from_outside_the_filter_into_it_stops_the_replay()
    {
        string db = "ren" + Guid.NewGuid().ToString("N")[..8];
        await using var oplog = await StartAsync(
            Create(1, db, "inside"),
            Entry(2, "c", db + ".$cmd", new BsonDocument { { "renameCollection", db + ".outside" }, { "to", db + ".brought" } }));
        await using var target = await MirrorTarget.StartAsync(oplog.RepositoryId, [db]);
        var entries = oplog.Store.ReadAsync(OplogTimestamp.Zero, At(2), Ct);

        var e = await Assert.ThrowsAsync<OplogReplayException>(() => new OplogReplayer(target.Client, new ReplayOptions())
            .ReplayAsync(entries, OplogTimestamp.Zero, At(2), new NamespaceMap([db + ".inside", db + ".brought"], [], []), null, Ct));
        Assert.Contains(db + ".outside", e.Message, StringComparison.Ordinal);
        Assert.Contains(At(2).ToString(), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Entries_outside_the_range_are_refused()
    {
        string db = "rng" + Guid.NewGuid().ToString("N")[..8];
        await using var oplog = await StartAsync(Insert(1, db + ".c", new BsonDocument("_id", 1)), Insert(2, db + ".c", new BsonDocument("_id", 2)));
        await using var target = await MirrorTarget.StartAsync(oplog.RepositoryId, [db]);
        var entries = oplog.Store.ReadAsync(OplogTimestamp.Zero, At(2), Ct);

        var e = await Assert.ThrowsAsync<OplogReplayException>(() => new OplogReplayer(target.Client, new ReplayOptions())
            .ReplayAsync(entries, OplogTimestamp.Zero, At(1), new NamespaceMap([db], [], []), null, Ct));
        Assert.Contains("after the replay end", e.Message, StringComparison.Ordinal);
    }
}
