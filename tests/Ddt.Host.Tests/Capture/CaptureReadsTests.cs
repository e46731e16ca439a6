using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Shared.Oplog;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Capture;

/// <summary>
/// What capture reads (issue 8): only majority-committed entries, one member's view with
/// secondaryPreferred, a first start that keeps transactions whole, entries up to the server's limit.
/// These need test-server knobs (commit point, secondary lag, prepared transactions, chain size).
/// </summary>
public sealed class CaptureReadsTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static OplogTimestamp Ts(BsonTimestamp ts) => OplogTimestamp.FromValue((ulong)ts.Value);

    /// <summary>The stored stream equals the source's oplog over the same range, byte for byte.</summary>
    private static async Task AssertStoredIsTheSourceAsync(CaptureHarness h, List<CapturedEntry> stored)
    {
        var source = await h.SourceEntriesAsync(stored[0].Ts, stored[^1].Ts);
        Assert.Equal(source.Count, stored.Count);
        for (int i = 0; i < source.Count; i++)
        {
            Assert.True(source[i].AsSpan().SequenceEqual(stored[i].Bytes.Span), $"stored entry {i} ({stored[i].Ts}) differs from the source's");
        }
        Assert.Equal(stored.SelectMany(e => e.Bytes.ToArray()).ToArray(), await h.SlicedBytesAsync());
    }

    [Fact]
    public async Task Entries_above_the_majority_commit_point_are_neither_durable_nor_sealed_until_it_moves()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        var server = h.Source.RequireTestServer("holds the majority commit point back");
        await h.InsertAsync("orders", 1);
        var running = h.Start();
        await h.WaitUntilDurableAsync(running);
        server.HoldMajorityCommitPoint();
        var committed = (await h.SourceOplog.NewestAsync(Ct))!.Value.Ts;
        await h.InsertAsync("orders", 5, startId: 1);
        var newest = (await h.SourceOplog.NewestAsync(Ct))!.Value.Ts;

        // Lag reports (every 200 ms) that see the new entries: the tail (100 ms awaitData) and sealer (200 ms) had their turns.
        for (int i = 0; i < 400 && h.Lags.Count(l => l.SourceNewest >= newest) < 5; i++)
        {
            await Task.Delay(25, Ct);
        }
        Assert.True(h.Lags.Count(l => l.SourceNewest >= newest) >= 5, "no lag reports saw the new entries");
        Assert.Equal(committed, running.Capture.Durable!.Value.Ts);
        Assert.Equal(committed, (await h.Store.LastAsync(Ct))!.Value.Ts);
        Assert.True(await h.Store.SealedThroughAsync(Ct) is not { } sealedWhileHeld || sealedWhileHeld <= committed, "sealed past the commit point");

        server.HoldMajorityCommitPoint(new BsonTimestamp((long)newest.Value)); // the majority caught up
        await running.CatchUpAndStopAsync(h);

        var stored = await h.StoredAsync();
        Assert.Equal(newest, stored[^1].Ts);
        Assert.Equal(Enumerable.Range(0, 6).Select(i => (long)i), h.InsertedIds(stored, "orders"));
        Assert.Equal(newest, await h.Store.SealedThroughAsync(Ct));
        await AssertStoredIsTheSourceAsync(h, stored);
    }

    [Fact]
    public async Task Secondary_preferred_capture_with_a_lagging_secondary_resumes_without_a_false_gap_and_loses_nothing()
    {
        await using var h = await CaptureHarness.StartAsync(s3, new MongoTestServerOptions { WithSecondary = true }, secondaryPreferred: true);
        var server = h.Source.RequireTestServer("makes the secondary's oplog lag");
        await h.InsertAsync("orders", 3);
        await h.WaitUntilSecondaryDiscoveredAsync();
        var first = h.Start();
        await first.CatchUpAndStopAsync(h);

        // The secondary falls behind the checkpoint: the resumed tail finds nothing there yet.
        server.SetSecondaryOplogLag(3);
        long readsBefore = server.Secondary!.ReadsServed;
        var second = h.Start();
        await h.InsertAsync("orders", 4, startId: 3);
        for (int i = 0; i < 400 && server.Secondary.ReadsServed < readsBefore + 6 && !second.Task.IsCompleted; i++)
        {
            await Task.Delay(25, Ct);
        }
        Assert.False(second.Task.IsCompleted, "capture stopped on a lagging secondary: " + second.Task.Exception?.InnerException?.Message);
        server.SetSecondaryOplogLag(0);
        await second.CatchUpAndStopAsync(h);

        var stored = await h.StoredAsync();
        Assert.Equal(Enumerable.Range(0, 7).Select(i => (long)i).Where(id => id >= 2), h.InsertedIds(stored, "orders"));
        await AssertStoredIsTheSourceAsync(h, stored);
    }

    [Theory]
    [InlineData(1)] // the newest committed entry is a partialTxn link
    [InlineData(2)] // the newest committed entry is the chain's final link
    public async Task First_start_inside_a_partialTxn_chain_starts_at_the_chain_first_entry(int heldAtLink)
    {
        await using var h = await CaptureHarness.StartAsync(s3, new MongoTestServerOptions { TransactionOplogEntryMaxBytes = 100 });
        var server = h.Source.RequireTestServer("writes partialTxn chains and holds the commit point inside one");
        await h.InsertAsync("orders", 1);
        using (var session = await h.SourceClient.StartSessionAsync(cancellationToken: Ct))
        {
            session.StartTransaction();
            for (int i = 1; i <= 3; i++)
            {
                await h.Collection("orders").InsertOneAsync(session, new BsonDocument { { "_id", i }, { "v", new string('t', 80) } }, cancellationToken: Ct);
            }
            await session.CommitTransactionAsync(Ct);
        }
        var chain = await h.SourceClient.GetDatabase("local").GetCollection<BsonDocument>("oplog.rs")
            .Find(new BsonDocument("ns", "admin.$cmd")).Sort(new BsonDocument("$natural", 1)).ToListAsync(Ct);
        Assert.Equal(3, chain.Count);
        Assert.True(chain[0]["o"]["partialTxn"].AsBoolean);
        server.HoldMajorityCommitPoint(chain[heldAtLink]["ts"].AsBsonTimestamp);

        var running = h.Start();
        for (int i = 0; i < 400 && running.Capture.Durable is null; i++)
        {
            await Task.Delay(25, Ct);
        }
        server.ReleaseMajorityCommitPoint();
        await running.CatchUpAndStopAsync(h);

        var stored = await h.StoredAsync();
        Assert.Equal(Ts(chain[0]["ts"].AsBsonTimestamp), stored[0].Ts);
        Assert.Equal(Ts(chain[2]["ts"].AsBsonTimestamp), stored[^1].Ts);
        await AssertStoredIsTheSourceAsync(h, stored);
    }

    [Fact]
    public async Task First_start_covers_a_prepared_transaction_still_open_from_its_first_entry()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        var server = h.Source.RequireTestServer("writes a prepared transaction and its config.transactions record");
        await h.InsertAsync("orders", 1);
        var prepared = server.AppendPreparedTransaction(h.Namespace("orders"), [new BsonDocument("_id", 10), new BsonDocument("_id", 11)], links: 2);
        await h.InsertAsync("orders", 3, startId: 1); // newer than the prepared transaction's entries

        var running = h.Start();
        await h.WaitUntilDurableAsync(running);
        var commitTs = server.CommitPreparedTransaction(prepared);
        await running.CatchUpAndStopAsync(h);

        var stored = await h.StoredAsync();
        Assert.Equal(OplogTimestamp.FromValue((ulong)prepared.FirstTs), stored[0].Ts);
        Assert.Equal(Ts(commitTs), stored[^1].Ts);
        Assert.Equal([1L, 2L, 3L], h.InsertedIds(stored, "orders"));
        await AssertStoredIsTheSourceAsync(h, stored);
    }

    [Fact]
    public async Task Entry_at_the_server_limit_is_stored_split_and_read_back_byte_identical_end_to_end()
    {
        // Object storage "down" (no bucket yet) in the first run, so the second run's sealer reads everything back from the store.
        string bucket = $"wap-big-{Guid.NewGuid():N}"[..30];
        await using var h = await CaptureHarness.StartAsync(s3, bucket: bucket);
        // The largest document an insert takes (16 MiB): its oplog entry is larger still (op, ns, ui, ts, wall...).
        int overhead = new BsonDocument { { "_id", 1 }, { "b", new BsonBinaryData([]) } }.ToBson().Length;
        var big = new BsonDocument { { "_id", 1 }, { "b", new BsonBinaryData(Enumerable.Range(0, 16 * 1024 * 1024 - overhead).Select(i => (byte)(i * 31)).ToArray()) } };
        await h.Collection("big").InsertOneAsync(big, cancellationToken: Ct);
        var bigEntry = (await h.SourceOplog.NewestAsync(Ct))!.Value;
        Assert.True(bigEntry.Bytes.Length > CapturedOplogStore.MaxDocumentBytes, $"the entry is {bigEntry.Bytes.Length} bytes");

        // The big entry, the newest, stored first as a previous run left it (split into parts): a first start
        // would need object storage (decision 0403), and this run must seal nothing.
        await h.SeedCheckpointAsync();
        var running = h.Start();
        await h.WaitUntilDurableAsync(running);
        Assert.True((await h.Store.LastAsync(Ct))!.Value.Bytes.Span.SequenceEqual(bigEntry.Bytes.Span), "LastAsync differs");
        Assert.True((await h.Store.FirstAsync(Ct))!.Value.Bytes.Span.SequenceEqual(bigEntry.Bytes.Span), "FirstAsync differs");
        await h.InsertAsync("orders", 2);
        await running.CatchUpAndStopAsync(h);

        // A restart resumes after the stored stream (its checkpoint read back whole); the sealer reads the big entry from the store.
        Assert.Null(await h.Store.SealedThroughAsync(Ct));
        await s3.Client.PutBucketAsync(bucket, Ct);
        var again = h.Start();
        await h.InsertAsync("orders", 1, startId: 2);
        // Sealed before the stop: a 16 MiB seal from the store may outlast the 2 s shutdown grace on a
        // loaded machine (the final seal then leaves it to the next start, by design).
        await h.WaitUntilDurableAsync(again);
        await h.WaitUntilSealedAsync(again.Capture.Durable!.Value.Ts);
        await again.CatchUpAndStopAsync(h);

        var stored = await h.StoredAsync();
        Assert.True(stored[0].Bytes.Span.SequenceEqual(bigEntry.Bytes.Span), "ReadAsync differs");
        Assert.Equal([0L, 1L, 2L], h.InsertedIds(stored, "orders"));
        await AssertStoredIsTheSourceAsync(h, stored);
    }
}
