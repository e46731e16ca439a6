using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Host.Tests.Capture;
using WapBackup.Ddt.Host.Tests.Mirror;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Mirror;
using WapBackup.Ddt.Restore.Replay;
using WapBackup.Shared.Oplog;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Restore.Replay;

/// <summary>
/// A generated workload runs on the source while capture writes the store and the slices; at each
/// step the workload pauses and the source's state and newest oplog ts are recorded. A target loaded
/// with the state at T0 (copied directly) and replayed (T0, TIME] must equal the state at TIME exactly.
/// </summary>
public sealed class ReplayRoundTripTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The source's state of one database: per collection, its documents in _id order and its index names.</summary>
    private sealed record State(OplogTimestamp Ts, IReadOnlyDictionary<string, (List<string> Documents, List<string> Indexes)> Collections);

    private static async Task<State> ReadStateAsync(IMongoClient client, string database, OplogTimestamp ts, Func<string, string>? rename = null)
    {
        var collections = new Dictionary<string, (List<string>, List<string>)>(StringComparer.Ordinal);
        var db = client.GetDatabase(database);
        foreach (var name in await (await db.ListCollectionNamesAsync(cancellationToken: Ct)).ToListAsync(Ct))
        {
            var collection = db.GetCollection<BsonDocument>(name);
            var documents = await collection.Find(FilterDefinition<BsonDocument>.Empty).Sort(new BsonDocument("_id", 1)).ToListAsync(Ct);
            var indexes = await (await collection.Indexes.ListAsync(Ct)).ToListAsync(Ct);
            collections[rename?.Invoke(database + "." + name) ?? database + "." + name] =
                ([.. documents.Select(d => d.ToJson())], [.. indexes.Select(i => i["name"].AsString + (i.Contains("unique") ? "!" : "")).Order()]);
        }
        return new State(ts, collections);
    }

    /// <summary>
    /// The state now and its ts: a note written after the step's last acknowledged write. (The newest
    /// visible oplog entry can lag an acknowledged write for a moment, which would pair a state with an
    /// earlier ts; the note's ts is after every write of the step.)
    /// </summary>
    private static async Task<State> CheckpointAsync(CaptureHarness h)
    {
        var note = await h.SourceClient.AppendOplogNoteAsync("checkpoint", Ct);
        return await ReadStateAsync(h.SourceClient, h.Database, OplogTimestamp.FromValue((ulong)note.Ts.Value));
    }

    /// <summary>Steps of a workload covering every update shape, deletes, DDL, unique-key swaps and transactions.</summary>
    private static IEnumerable<Func<Task>> Workload(IMongoClient client, string database, bool swaps)
    {
        var db = client.GetDatabase(database);
        var people = db.GetCollection<BsonDocument>("people");
        yield return async () =>
        {
            await db.CreateCollectionAsync("people", cancellationToken: Ct);
            await people.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(new BsonDocument("email", 1), new CreateIndexOptions { Unique = true }), cancellationToken: Ct);
            await people.InsertManyAsync(Enumerable.Range(0, 40).Select(i => new BsonDocument
            {
                { "_id", i }, { "email", $"p{i}@x" }, { "tags", new BsonArray { "a", "b", "c" } },
                { "address", new BsonDocument { { "city", "c" + i % 3 }, { "zip", i } } }, { "n", i },
            }), cancellationToken: Ct);
        };
        yield return async () =>
        {
            for (int i = 0; i < 40; i += 2)
            {
                await people.UpdateOneAsync(new BsonDocument("_id", i), new BsonDocument
                {
                    { "$set", new BsonDocument { { "address.city", "moved" }, { "tags.1", "B" }, { "extra", new BsonDocument("deep", new BsonArray { 1, new BsonDocument("x", 2) }) } } },
                    { "$inc", new BsonDocument("n", 10) },
                    { "$unset", new BsonDocument("address.zip", "") },
                }, cancellationToken: Ct);
            }
            for (int i = 1; i < 40; i += 3)
            {
                await people.UpdateOneAsync(new BsonDocument("_id", i), new BsonDocument("$push", new BsonDocument("tags", "d")), cancellationToken: Ct);
                await people.UpdateOneAsync(new BsonDocument("_id", i), new BsonDocument("$pull", new BsonDocument("tags", "a")), cancellationToken: Ct);
            }
            await people.ReplaceOneAsync(new BsonDocument("_id", 5), new BsonDocument { { "_id", 5 }, { "email", "p5@x" }, { "replaced", true } }, cancellationToken: Ct);
            for (int i = 3; i < 40; i += 7)
            {
                await people.DeleteOneAsync(new BsonDocument("_id", i), Ct);
            }
        };
        if (swaps) yield return async () =>
        {
            // Unique-key swaps: each key is free at its entry's ts, not under another order.
            for (int i = 0; i < 20; i += 4)
            {
                await people.UpdateOneAsync(new BsonDocument("_id", i), new BsonDocument("$set", new BsonDocument("email", "tmp")), cancellationToken: Ct);
                await people.UpdateOneAsync(new BsonDocument("_id", i + 1), new BsonDocument("$set", new BsonDocument("email", $"p{i}@x")), cancellationToken: Ct);
                await people.UpdateOneAsync(new BsonDocument("_id", i), new BsonDocument("$set", new BsonDocument("email", $"p{i + 1}@x")), cancellationToken: Ct);
            }
        };
        yield return async () =>
        {
            var scratch = db.GetCollection<BsonDocument>("scratch");
            await scratch.InsertManyAsync(Enumerable.Range(0, 10).Select(i => new BsonDocument { { "_id", i }, { "v", i } }), cancellationToken: Ct);
            await scratch.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(new BsonDocument("v", -1)), cancellationToken: Ct);
            await db.RenameCollectionAsync("scratch", "kept", cancellationToken: Ct);
            var kept = db.GetCollection<BsonDocument>("kept");
            await kept.UpdateManyAsync(new BsonDocument("v", new BsonDocument("$gt", 5)), new BsonDocument("$set", new BsonDocument("big", true)), cancellationToken: Ct);
            await kept.Indexes.DropOneAsync("v_-1", Ct);
            await db.GetCollection<BsonDocument>("gone").InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct);
            await db.DropCollectionAsync("gone", Ct);
        };
        yield return async () =>
        {
            using var session = await client.StartSessionAsync(cancellationToken: Ct);
            session.StartTransaction();
            await people.InsertOneAsync(session, new BsonDocument { { "_id", 100 }, { "email", "txn@x" } }, cancellationToken: Ct);
            await people.UpdateOneAsync(session, new BsonDocument("_id", 1), new BsonDocument("$set", new BsonDocument("inTxn", true)), cancellationToken: Ct);
            await people.DeleteOneAsync(session, new BsonDocument("_id", 2), cancellationToken: Ct);
            await session.CommitTransactionAsync(Ct);
            await people.InsertManyAsync(Enumerable.Range(200, 30).Select(i => new BsonDocument { { "_id", i }, { "email", $"q{i}@x" } }), cancellationToken: Ct);
        };
    }

    /// <summary>One compaction pass that takes every sealed slice (none too young), as the agent's hourly pass would an hour later.</summary>
    private static Task<WapBackup.Ddt.Compaction.CompactionCounts> CompactEverySealedSliceAsync(CaptureHarness h) =>
        new WapBackup.Ddt.Compaction.SliceCompactor(h.Objects, "prefix", h.RepositoryId, TimeProvider.System,
            WapBackup.Ddt.Compaction.CompactionOptions.Default with { OlderThan = TimeSpan.Zero },
            WapBackup.Ddt.Resilience.Retries.Bounded(2, new WapBackup.Ddt.Resilience.Backoff(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5)), _ => true),
            new WapBackup.Shared.Logging.JsonLineLogger(TextWriter.Null, TimeProvider.System, "compact")).RunAsync(dryRun: false, Ct);

    /// <param name="sealEachStep">Wait for each step's entries to be sealed: a slice (at least) per step.</param>
    private static async Task<(CaptureHarness Harness, List<State> States)> CapturedWorkloadAsync(S3Fixture s3, bool swaps = false, bool sealEachStep = false)
    {
        var h = await CaptureHarness.StartAsync(s3);
        await h.SourceClient.AppendOplogNoteAsync("start", Ct);
        var running = h.Start();
        await h.WaitUntilDurableAsync(running);
        var states = new List<State>();
        foreach (var step in Workload(h.SourceClient, h.Database, swaps))
        {
            await step();
            states.Add(await CheckpointAsync(h)); // the workload is paused here: the state and the newest ts belong together
            if (sealEachStep)
            {
                await h.WaitUntilSealedAsync(states[^1].Ts);
            }
        }
        await running.CatchUpAndStopAsync(h);
        return (h, states);
    }

    /// <summary>Copies the source's state at T0 (documents and indexes, renamed by the map) to the target, as the snapshot loader would.</summary>
    private static async Task LoadAsync(IMongoClient source, IMongoClient target, string database, NamespaceMap map, State t0Source)
    {
        foreach (var (ns, (documents, _)) in t0Source.Collections)
        {
            if (!map.Includes(ns))
            {
                continue;
            }
            string mapped = map.Map(ns);
            int dot = mapped.IndexOf('.', StringComparison.Ordinal);
            var to = target.GetDatabase(mapped[..dot]);
            await to.CreateCollectionAsync(mapped[(dot + 1)..], cancellationToken: Ct);
            var sourceCollection = source.GetDatabase(database).GetCollection<BsonDocument>(ns[(ns.IndexOf('.') + 1)..]);
            var indexes = await (await sourceCollection.Indexes.ListAsync(Ct)).ToListAsync(Ct);
            var toCollection = to.GetCollection<BsonDocument>(mapped[(dot + 1)..]);
            foreach (var index in indexes.Where(i => i["name"] != "_id_"))
            {
                await toCollection.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(index["key"].AsBsonDocument,
                    new CreateIndexOptions { Name = index["name"].AsString, Unique = index.GetValue("unique", false).ToBoolean() }), cancellationToken: Ct);
            }
            if (documents.Count > 0)
            {
                await toCollection.InsertManyAsync(documents.Select(BsonDocument.Parse), cancellationToken: Ct);
            }
        }
    }

    private static async Task DropAsync(IMongoClient target, params string[] databases)
    {
        foreach (var database in databases)
        {
            await target.DropDatabaseAsync(database, Ct);
        }
    }

    private static void AssertSame(State expected, State actual)
    {
        Assert.Equal(expected.Collections.Keys.Order(), actual.Collections.Keys.Order());
        foreach (var (ns, (documents, indexes)) in expected.Collections)
        {
            Assert.Equal(documents, actual.Collections[ns].Documents);
            Assert.Equal(indexes, actual.Collections[ns].Indexes);
        }
    }

    /// <summary>
    /// Swaps through a shared "tmp" key with 4 workers: the people collection has a unique email index, so
    /// the pool sends all of its operations to one worker (decision 1030) and no key is taken out of order.
    /// The interleaving that once failed here under load is forced in WorkerPoolTests.
    /// </summary>
    [Fact]
    public Task Unique_key_swaps_replay_with_parallel_workers() => RoundTripAsync(ReplaySource.Store, MirrorMode.ApplyOps, 4, swaps: true);

    [Fact]
    public Task Unique_key_swaps_replay_in_order_with_one_worker() => RoundTripAsync(ReplaySource.Store, MirrorMode.ApplyOps, 1, swaps: true);

    [Theory]
    [InlineData(ReplaySource.Store, MirrorMode.ApplyOps, 4)]
    [InlineData(ReplaySource.Slices, MirrorMode.ApplyOps, 4)]
    [InlineData(ReplaySource.Store, MirrorMode.Crud, 3)]
    public Task Replay_from_T0_to_every_checkpoint_equals_the_source_at_that_time(ReplaySource from, MirrorMode mode, int workers) =>
        RoundTripAsync(from, mode, workers, swaps: false);

    private async Task RoundTripAsync(ReplaySource from, MirrorMode mode, int workers, bool swaps)
    {
        var (h, states) = await CapturedWorkloadAsync(s3, swaps);
        await using var _ = h;
        await using var target = await MirrorTarget.StartAsync(h.RepositoryId, [h.Database]);
        var map = new NamespaceMap([h.Database], [], []);
        var source = new RestoreOplogSource(h.Store, h.Slices);
        var t0 = states[0];
        foreach (var at in states.Skip(1))
        {
            await DropAsync(target.Client, h.Database);
            await LoadAsync(h.SourceClient, target.Client, h.Database, map, t0);
            var range = await source.OpenAsync(t0.Ts, at.Ts, from, Ct);
            Assert.Equal(from, range.Source);
            var report = await new OplogReplayer(target.Client, new ReplayOptions(mode, workers, BatchSize: 8))
                .ReplayAsync(range.ReadAsync(Ct), t0.Ts, at.Ts, map, null, Ct);

            AssertSame(at, await ReadStateAsync(target.Client, h.Database, at.Ts));
            Assert.Empty(report.TransactionsNotCommittedByThrough);
            Assert.True(report.Applied > 0);
            Assert.True(report.LastApplied <= at.Ts);
        }
    }

    [Fact]
    public async Task Replay_reads_the_slices_when_the_store_is_wiped()
    {
        var (h, states) = await CapturedWorkloadAsync(s3);
        await using var _ = h;
        await h.WipeStoreAsync(dropState: true);
        await using var target = await MirrorTarget.StartAsync(h.RepositoryId, [h.Database]);
        var map = new NamespaceMap([h.Database], [], []);
        await LoadAsync(h.SourceClient, target.Client, h.Database, map, states[0]);

        var range = await new RestoreOplogSource(h.Store, h.Slices).OpenAsync(states[0].Ts, states[^1].Ts, ReplaySource.Auto, Ct);
        Assert.Equal(ReplaySource.Slices, range.Source);
        await Assert.ThrowsAsync<WapBackup.Ddt.Storage.OplogChainException>(() =>
            new RestoreOplogSource(h.Store, h.Slices).OpenAsync(states[0].Ts, states[^1].Ts, ReplaySource.Store, Ct));
        await new OplogReplayer(target.Client, new ReplayOptions(Workers: 4)).ReplayAsync(range.ReadAsync(Ct), states[0].Ts, states[^1].Ts, map, null, Ct);

        AssertSame(states[^1], await ReadStateAsync(target.Client, h.Database, states[^1].Ts));
    }

    [Fact]
    public async Task Replay_from_the_slices_alone_still_matches_after_compaction()
    {
        var (h, states) = await CapturedWorkloadAsync(s3, sealEachStep: true);
        await using var _ = h;
        var before = await h.Slices.ListChainAsync(states[0].Ts, states[^1].Ts, Ct);
        // At least 4 slices: whatever hour boundary falls between them, some hour holds two eligible ones (the newest never is).
        Assert.True(before.Count >= 4, $"the workload sealed {before.Count} slices");
        var counts = await CompactEverySealedSliceAsync(h);
        Assert.True(counts.SlicesWritten >= 1);
        Assert.True((await h.Slices.ListChainAsync(states[0].Ts, states[^1].Ts, Ct)).Count < before.Count);

        await h.WipeStoreAsync(dropState: true);
        await using var target = await MirrorTarget.StartAsync(h.RepositoryId, [h.Database]);
        var map = new NamespaceMap([h.Database], [], []);
        await LoadAsync(h.SourceClient, target.Client, h.Database, map, states[0]);
        var range = await new RestoreOplogSource(h.Store, h.Slices).OpenAsync(states[0].Ts, states[^1].Ts, ReplaySource.Slices, Ct);
        await new OplogReplayer(target.Client, new ReplayOptions(Workers: 4)).ReplayAsync(range.ReadAsync(Ct), states[0].Ts, states[^1].Ts, map, null, Ct);

        AssertSame(states[^1], await ReadStateAsync(target.Client, h.Database, states[^1].Ts));
    }

    [Fact]
    public async Task A_restore_reading_slices_that_a_compaction_replaces_meanwhile_reads_the_compacted_slice_and_still_matches()
    {
        var (h, states) = await CapturedWorkloadAsync(s3, sealEachStep: true);
        await using var _ = h;
        await h.WipeStoreAsync(dropState: true);
        await using var target = await MirrorTarget.StartAsync(h.RepositoryId, [h.Database]);
        var map = new NamespaceMap([h.Database], [], []);
        await LoadAsync(h.SourceClient, target.Client, h.Database, map, states[0]);
        // The restore listed its chain; then the agent's hourly compaction replaced the listed originals.
        var range = await new RestoreOplogSource(h.Store, h.Slices).OpenAsync(states[0].Ts, states[^1].Ts, ReplaySource.Slices, Ct);
        var counts = await CompactEverySealedSliceAsync(h);
        Assert.True(counts.ObjectsDeleted >= 2, $"the compaction deleted {counts.ObjectsDeleted} objects");

        await new OplogReplayer(target.Client, new ReplayOptions(Workers: 4)).ReplayAsync(range.ReadAsync(Ct), states[0].Ts, states[^1].Ts, map, null, Ct);

        AssertSame(states[^1], await ReadStateAsync(target.Client, h.Database, states[^1].Ts));
    }

    [Fact]
    public async Task Replay_with_a_filter_and_renames_equals_the_renamed_source()
    {
        var (h, states) = await CapturedWorkloadAsync(s3);
        await using var _ = h;
        string renamedDb = h.Database + "r";
        await using var target = await MirrorTarget.StartAsync(h.RepositoryId, [renamedDb, h.Database]);
        // people renamed into another database; kept (created, renamed from scratch) is outside the filter.
        var map = new NamespaceMap([$"{h.Database}.people"], [], [new NamespaceRename($"{h.Database}.people", $"{renamedDb}.folk")]);
        await LoadAsync(h.SourceClient, target.Client, h.Database, map, states[0]);

        var range = await new RestoreOplogSource(h.Store, h.Slices).OpenAsync(states[0].Ts, states[^1].Ts, ReplaySource.Auto, Ct);
        var report = await new OplogReplayer(target.Client, new ReplayOptions(Workers: 4)).ReplayAsync(range.ReadAsync(Ct), states[0].Ts, states[^1].Ts, map, null, Ct);

        var expected = await ReadStateAsync(h.SourceClient, h.Database, states[^1].Ts, ns => ns == $"{h.Database}.people" ? $"{renamedDb}.folk" : ns);
        var only = new State(expected.Ts, expected.Collections.Where(c => c.Key == $"{renamedDb}.folk").ToDictionary(c => c.Key, c => c.Value));
        AssertSame(only, await ReadStateAsync(target.Client, renamedDb, states[^1].Ts));
        Assert.Empty(await (await target.Client.GetDatabase(h.Database).ListCollectionNamesAsync(cancellationToken: Ct)).ToListAsync(Ct));
        Assert.True(report.SkippedByRule.GetValueOrDefault(nameof(SkipReason.Filtered)) > 0);
        Assert.Contains($"{renamedDb}.folk", report.PerNamespace.Keys);
    }
}
