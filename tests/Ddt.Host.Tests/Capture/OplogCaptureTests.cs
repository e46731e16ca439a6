using MongoDB.Bson;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Capture;
using WapBackup.Shared.Oplog;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Capture;

/// <summary>
/// Capture through the real MongoDB.Driver from the source (test server or MONGODB_URI) into the 57019
/// store (test server or MONGODB_URI_2) and s3rver. The captured stream is compared with the source's
/// oplog over the same ts range (whoever wrote it), the test's own writes are found by namespace.
/// </summary>
public sealed class OplogCaptureTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static IEnumerable<long> Ids(int start, int count) => Enumerable.Range(start, count).Select(i => (long)i);

    [Fact]
    public async Task Captures_every_entry_durably_in_order_and_seals_the_same_stream()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        await h.InsertAsync("orders", 1); // the oplog must not be empty: capture starts at its newest entry
        var running = h.Start();
        await h.WaitUntilDurableAsync(running);
        await h.InsertAsync("orders", 300, startId: 1);
        await h.Collection("orders").UpdateOneAsync(new BsonDocument("_id", 5), new BsonDocument("$set", new BsonDocument("v", "changed")), cancellationToken: Ct);
        await h.Collection("orders").DeleteOneAsync(new BsonDocument("_id", 6), Ct);
        await running.CatchUpAndStopAsync(h);

        var stored = await h.StoredAsync();
        var source = await h.SourceEntriesAsync(stored[0].Ts, stored[^1].Ts);
        Assert.Equal(source.Count, stored.Count);
        for (int i = 0; i < source.Count; i++)
        {
            Assert.True(source[i].AsSpan().SequenceEqual(stored[i].Bytes.Span), $"stored entry {i} differs from the source's");
        }
        // Everything written after capture was running is there, once each, in order.
        Assert.Equal(Ids(1, 300), h.InsertedIds(stored, "orders").Where(id => id != 0));
        Assert.Single(h.OwnEntries(stored, "orders", OplogOperation.Update));
        Assert.Single(h.OwnEntries(stored, "orders", OplogOperation.Delete));

        // The graceful stop sealed everything durable: the slices hold exactly the stored stream.
        byte[] sliced = await h.SlicedBytesAsync();
        Assert.Equal(stored.SelectMany(e => e.Bytes.ToArray()).ToArray(), sliced);
        Assert.Equal(stored[^1].Ts, await h.Store.SealedThroughAsync(Ct));
        Assert.Empty(h.SealFailures);
    }

    [Fact]
    public async Task Restart_resumes_exactly_after_the_checkpoint_without_gaps_or_duplicates()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        await h.InsertAsync("orders", 10);
        var first = h.Start();
        await h.InsertAsync("orders", 20, startId: 10);
        await first.CatchUpAndStopAsync(h);
        var checkpoint = (await h.Store.LastAsync(Ct))!.Value;

        await h.InsertAsync("orders", 25, startId: 30); // written while capture is down

        var second = h.Start();
        await h.InsertAsync("orders", 5, startId: 55);
        await second.CatchUpAndStopAsync(h);

        var stored = await h.StoredAsync();
        var source = await h.SourceEntriesAsync(stored[0].Ts, stored[^1].Ts);
        Assert.Equal(source.Select(b => Convert.ToHexString(b)), stored.Select(e => Convert.ToHexString(e.Bytes.Span)));
        Assert.Contains(stored, e => e.Ts == checkpoint.Ts);
        Assert.Equal(stored.Count, stored.Select(e => e.Ts).Distinct().Count());
        Assert.Equal(Ids(30, 30), h.InsertedIds(stored, "orders").Where(id => id >= 30)); // while down and after: all, once
        Assert.Equal(stored.SelectMany(e => e.Bytes.ToArray()).ToArray(), await h.SlicedBytesAsync());
    }

    [Fact]
    public async Task Rollover_while_stopped_is_a_gap_and_nothing_more_is_stored()
    {
        await using var h = await CaptureHarness.StartAsync(s3, new MongoTestServerOptions { OplogMaxBytes = 8 * 1024 });
        h.Source.RequireTestServer("a tiny OplogMaxBytes rolls the checkpoint off the source's oplog");
        await h.InsertAsync("orders", 5);
        var first = h.Start();
        await h.InsertAsync("orders", 5, startId: 5);
        await first.CatchUpAndStopAsync(h);
        var before = await h.StoredAsync();

        await h.InsertAsync("orders", 200, startId: 100); // far more than 8 KiB: the checkpoint rolls off

        var second = h.Start();
        var gap = await Assert.ThrowsAsync<CaptureGapException>(() => second.Task);
        Assert.Equal(GapKind.Rollover, gap.Kind);
        Assert.Equal(before[^1].Ts, gap.Checkpoint);
        Assert.Contains(before[^1].Ts.ToString(), gap.Message, StringComparison.Ordinal);
        Assert.Equal(before.Count, (await h.StoredAsync()).Count);
    }

    [Fact]
    public async Task A_different_entry_at_the_checkpoint_is_divergence()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        await h.InsertAsync("orders", 5);
        var first = h.Start();
        await h.InsertAsync("orders", 3, startId: 5);
        await first.CatchUpAndStopAsync(h);

        // The checkpoint was durable but not sealed yet when capture stopped (else the start finds the
        // store and the slices disagree first: see TimelineContinuityTests): drop its slice.
        var newest = (await h.Slices.NewestAsync(Ct))!;
        await h.Objects.DeleteAsync([newest.IndexKey, Shared.Storage.OplogSliceLayout.DataKeyOf(newest.IndexKey)], Ct);
        // Rewrite the captured checkpoint entry as if the source had rolled it back and written another.
        // (On a shared source the checkpoint may be another writer's entry or a periodic no-op: any o differs.)
        var last = (await h.Store.LastAsync(Ct))!.Value;
        await h.AlterStoredEntryAsync(last, "rolled back");

        var second = h.Start();
        var gap = await Assert.ThrowsAsync<CaptureGapException>(() => second.Task);
        Assert.Equal(GapKind.Divergence, gap.Kind);
        Assert.Equal(last.Ts, gap.Checkpoint);
    }

    [Fact]
    public async Task Sealing_failures_are_reported_and_never_stop_capture_then_a_later_start_seals_the_backlog()
    {
        // Object storage "down": the bucket does not exist yet.
        string bucket = $"wap-late-{Guid.NewGuid():N}"[..30];
        await using var h = await CaptureHarness.StartAsync(s3, bucket: bucket);
        await h.InsertAsync("orders", 3);
        // A restart (a first start needs object storage: TimelineContinuityTests): an earlier run stored the third insert.
        await h.SeedCheckpointAsync();
        var first = h.Start();
        await h.WaitUntilDurableAsync(first); // started at the third insert (or a newer entry on a shared source)
        await h.InsertAsync("orders", 20, startId: 3);
        await first.CatchUpAndStopAsync(h);

        Assert.NotEmpty(h.SealFailures);
        Assert.Null(await h.Store.SealedThroughAsync(Ct));
        var stored = await h.StoredAsync();
        Assert.Equal(Ids(3, 20), h.InsertedIds(stored, "orders").Where(id => id >= 3));

        // Storage is back: the next run seals everything that was durable.
        await s3.Client.PutBucketAsync(bucket, Ct);
        var second = h.Start();
        await second.CatchUpAndStopAsync(h);
        var all = await h.StoredAsync(); // a shared source may have added entries in the second run
        if (h.SourceIsPrivate) Assert.Equal(stored.Count, all.Count);
        Assert.Equal(stored.Select(e => e.Ts), all.Take(stored.Count).Select(e => e.Ts));
        Assert.Equal(all[^1].Ts, await h.Store.SealedThroughAsync(Ct));
        Assert.Equal(all.SelectMany(e => e.Bytes.ToArray()).ToArray(), await h.SlicedBytesAsync());
    }

    [Fact]
    public async Task Sealer_overflowing_its_memory_while_storage_is_down_catches_up_from_the_store()
    {
        string bucket = $"wap-late-{Guid.NewGuid():N}"[..30];
        await using var h = await CaptureHarness.StartAsync(s3, bucket: bucket);
        await h.InsertAsync("orders", 1);
        await h.SeedCheckpointAsync(); // a restart: a first start needs object storage
        var running = h.Start();
        await h.WaitUntilDurableAsync(running);
        // ~150 KB of entries while sealing fails: more than the in-memory tail (2 x 64 KiB) holds.
        await h.InsertAsync("orders", 1000, startId: 1);
        await h.WaitUntilDurableAsync(running);
        for (int i = 0; i < 200 && h.SealFailures.Count == 0; i++) await Task.Delay(20, Ct);
        Assert.NotEmpty(h.SealFailures);

        await s3.Client.PutBucketAsync(bucket, Ct); // storage is back while capture runs
        await h.InsertAsync("orders", 10, startId: 2000);
        await h.WaitUntilDurableAsync(running);
        var last = running.Capture.Durable!.Value.Ts;
        // ">=": a shared source keeps growing, so sealing may already be past `last`; a private one stops exactly there.
        for (int i = 0; i < 600 && !(await h.Store.SealedThroughAsync(Ct) >= last); i++) await Task.Delay(50, Ct);
        Assert.True(await h.Store.SealedThroughAsync(Ct) >= last, "sealed while still running, not only at stop");
        await running.Stop.CancelAsync();
        await running.Task;

        var stored = await h.StoredAsync();
        Assert.Equal(Ids(1, 1000).Concat(Ids(2000, 10)), h.InsertedIds(stored, "orders").Where(id => id != 0));
        Assert.Equal(stored.SelectMany(e => e.Bytes.ToArray()).ToArray(), await h.SlicedBytesAsync());
    }

    [Fact]
    public async Task Secondary_preferred_capture_reads_from_a_secondary()
    {
        // A two-member set (the lead's WithSecondary): the secondary shares the primary's data and counts the reads it serves.
        await using var h = await CaptureHarness.StartAsync(s3, new MongoTestServerOptions { WithSecondary = true }, secondaryPreferred: true);
        var server = h.Source.RequireTestServer("counts the reads the secondary member serves");
        var secondary = server.Secondary!;
        await server.AppendNoopAsync("first", Ct);
        await h.WaitUntilSecondaryDiscoveredAsync(); // else secondaryPreferred falls back to the primary
        long secondaryReadsBefore = secondary.ReadsServed;
        var running = h.Start();
        await h.WaitUntilDurableAsync(running); // started at "first"
        await server.AppendNoopAsync("second", Ct);
        await running.CatchUpAndStopAsync(h);

        var stored = await h.StoredAsync();
        Assert.Equal(2, stored.Count);
        Assert.All(stored, e => Assert.Equal(OplogOperation.Noop, new OplogEntry(e.Bytes).Operation));
        Assert.True(secondary.ReadsServed > secondaryReadsBefore, "the capture read nothing from the secondary");
    }

    /// <summary>Holds the capture's writer inside its first OnDurable after <see cref="Arm"/> until released.</summary>
    private sealed class HoldingObserver : ICaptureObserver, IDisposable
    {
        private readonly ManualResetEventSlim _held = new();
        private readonly ManualResetEventSlim _release = new();
        private volatile bool _armed;

        /// <summary>The ts of the held batch's last entry.</summary>
        public OplogTimestamp HeldThrough { get; private set; }

        public void Arm() => _armed = true;

        public void OnDurable(IReadOnlyList<byte[]> entries)
        {
            if (_armed)
            {
                _armed = false;
                HeldThrough = new OplogEntry(entries[^1]).Timestamp!.Value;
                _held.Set();
                _release.Wait(TimeSpan.FromSeconds(30));
            }
        }

        public Task WaitUntilHeldAsync() => Task.Run(() => Assert.True(_held.Wait(TimeSpan.FromSeconds(30)), "the writer never reached OnDurable"));

        public void Release() => _release.Set();

        public void Dispose()
        {
            _release.Set();
            _held.Dispose();
            _release.Dispose();
        }
    }

    [Fact]
    public async Task Graceful_stop_seals_the_batches_still_being_written_when_it_arrives()
    {
        // On a busy source a stop always finds batches read but not yet durable; they are written
        // ("read means will be durable") and must be sealed too, after the writer has drained.
        await using var h = await CaptureHarness.StartAsync(s3);
        await h.InsertAsync("orders", 1);
        using var observer = new HoldingObserver();
        var running = h.Start(h.NewCapture(observer));
        await h.WaitUntilDurableAsync(running);

        observer.Arm();
        await h.InsertAsync("orders", 1, startId: 1);
        await observer.WaitUntilHeldAsync(); // the writer is inside a batch (on a private source, the one holding _id 1)
        await h.InsertAsync("orders", 5, startId: 2); // read by the tailer while the writer is held
        await Task.Delay(1000, Ct); // the tailer (100 ms awaitData) reads them into its buffer meanwhile
        await running.Stop.CancelAsync();
        await Task.Delay(500, Ct); // time for a sealer that stops with the tailer to seal and finish
        observer.Release();
        await running.Task;

        var stored = await h.StoredAsync();
        Assert.True(stored[^1].Ts > observer.HeldThrough, "the stop found no batch waiting behind the held one");
        // The held batch and what the tailer had buffered behind it (at most BufferedBatches): of the
        // test's inserts a gap-free prefix (on a shared source other writers' entries may fill the buffer).
        var ids = h.InsertedIds(stored, "orders").Where(id => id != 0).ToList();
        Assert.Equal(Ids(1, ids.Count), ids);
        if (h.SourceIsPrivate) Assert.True(ids.Count >= 2, $"captured {ids.Count} of the inserts");
        Assert.Equal(stored[^1].Ts, await h.Store.SealedThroughAsync(Ct));
        Assert.Equal(stored.SelectMany(e => e.Bytes.ToArray()).ToArray(), await h.SlicedBytesAsync());
        Assert.Empty(h.SealFailures);
    }

    [Fact]
    public async Task Lag_is_reported_against_the_source_newest_entry()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        await h.InsertAsync("orders", 3);
        var running = h.Start();
        // Running first: capture starts at the source's newest entry, which on a shared source may be newer than these inserts.
        await h.WaitUntilDurableAsync(running);
        await h.InsertAsync("orders", 3, startId: 3);
        await running.CatchUpAndStopAsync(h);

        var lags = h.Lags;
        Assert.NotEmpty(lags);
        var final = lags[^1]; // reported after the graceful stop, everything durable
        var stored = await h.StoredAsync();
        Assert.Equal(running.Capture.Durable!.Value.Ts, final.DurableThrough);
        Assert.Equal(Ids(3, 3), h.InsertedIds(stored, "orders").Where(id => id >= 3));
        Assert.True(final.DurableThrough >= h.OwnEntries(stored, "orders", OplogOperation.Insert).Last().Ts, "the final report covers the test's last write");
        if (h.SourceIsPrivate)
        {
            // Nothing was written after the workload, so capture is exactly level with the source.
            // (A real primary's 10 s no-op or another test's write may land after the stop.)
            Assert.Equal(final.SourceNewest, final.DurableThrough);
            Assert.Equal(0, final.Seconds);
        }
        Assert.All(lags, l => Assert.True(l.Seconds >= 0 && l.DurableThrough <= l.SourceNewest));
    }

    [Fact]
    public async Task Sealer_retries_SDK_timeouts_and_selection_timeouts_and_keeps_sealing_while_capture_runs()
    {
        FaultyObjectStore? faulty = null;
        await using var h = await CaptureHarness.StartAsync(s3, wrapObjects: inner => faulty = new FaultyObjectStore(inner));
        // What the AWS SDK throws when its HTTP timeout fires (not our token), then a server-selection timeout.
        faulty!.FailNextWrites(new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout"), new TimeoutException("selection timed out"));
        await h.InsertAsync("orders", 1);
        var running = h.Start();
        await h.WaitUntilDurableAsync(running);
        await h.InsertAsync("orders", 20, startId: 1);
        await h.WaitUntilDurableAsync(running);

        var durable = running.Capture.Durable!.Value.Ts;
        for (int i = 0; i < 200 && !(await h.Store.SealedThroughAsync(Ct) >= durable) && !running.Task.IsCompleted; i++)
        {
            await Task.Delay(50, Ct);
        }
        Assert.False(running.Task.IsCompleted, "capture ended");
        Assert.True(await h.Store.SealedThroughAsync(Ct) >= durable, "sealing did not resume after the timeouts while capture ran");
        Assert.Equal(0, faulty.PendingFailures);
        lock (h.SealFailures)
        {
            Assert.Equal([typeof(TaskCanceledException), typeof(TimeoutException)], h.SealFailures.Select(e => e.GetType()));
        }
        await running.CatchUpAndStopAsync(h);
        var stored = await h.StoredAsync();
        Assert.Equal(stored.SelectMany(e => e.Bytes.ToArray()).ToArray(), await h.SlicedBytesAsync());
    }

    [Theory]
    [InlineData("network reset", null)]
    [InlineData("step-down (NotWritablePrimary)", 10107)]
    [InlineData("interrupted by a replica set state change", 11602)]
    public async Task Transient_source_errors_reconnect_and_resume_from_the_checkpoint_without_loss_or_duplicates(string what, int? errorCode)
    {
        _ = what;
        await using var h = await CaptureHarness.StartAsync(s3);
        await h.InsertAsync("orders", 1);
        var running = h.Start(h.NewCapture(source: h.QuickFailoverSourceOplog()));
        await h.WaitUntilDurableAsync(running);
        await h.InsertAsync("orders", 10, startId: 1);
        await h.WaitUntilDurableAsync(running);

        // The tail's next getMore fails twice (a reconnect that fails again backs off and retries).
        await h.FailSourceCommandAsync("getMore", times: 2, errorCode);
        await h.InsertAsync("orders", 10, startId: 11);
        await h.WaitUntilDurableAsync(running);
        // A getMore already waiting when the fail point was set still succeeds, and a reconnect's find can
        // return everything written meanwhile: wait until the tail met both failures before the last writes.
        await h.WaitForNoticesAsync("lost the source", 2);
        Assert.False(running.Task.IsCompleted, "capture ended on a transient source error");
        await h.InsertAsync("orders", 10, startId: 21);
        await running.CatchUpAndStopAsync(h);

        List<CaptureNotice> notices;
        lock (h.Notices) notices = [.. h.Notices];
        Assert.Equal(2, notices.Count(n => n.Level == Shared.Tasks.EventLevel.Warn && n.Message.StartsWith("lost the source", StringComparison.Ordinal)));
        // One event per outage (the two failures are one outage unless entries arrived between them), every attempt logged.
        int outages = notices.Count(n => n.Event && n.Level == Shared.Tasks.EventLevel.Warn);
        Assert.InRange(outages, 1, 2);
        Assert.Equal(outages, notices.Count(n => n.Event && n.Level == Shared.Tasks.EventLevel.Info && n.Message.StartsWith("reconnected", StringComparison.Ordinal)));
        var stored = await h.StoredAsync();
        Assert.Equal(Ids(1, 30), h.InsertedIds(stored, "orders").Where(id => id >= 1));
        var source = await h.SourceEntriesAsync(stored[0].Ts, stored[^1].Ts);
        Assert.Equal(source.Count, stored.Count);
        for (int i = 0; i < source.Count; i++)
        {
            Assert.True(source[i].AsSpan().SequenceEqual(stored[i].Bytes.Span), $"stored entry {i} differs from the source's");
        }
    }

    [Fact]
    public async Task Sealed_slices_behind_durable_capture_by_more_than_the_bound_is_an_error_event_once_then_an_info_event_on_recovery()
    {
        string bucket = $"wap-late-{Guid.NewGuid():N}"[..30]; // object storage "down": no bucket yet
        await using var h = await CaptureHarness.StartAsync(s3, bucket: bucket);
        await h.InsertAsync("orders", 1);
        await h.SeedCheckpointAsync(); // a restart: a first start needs object storage (decision 0403)
        var running = h.Start(h.NewCapture(options: CaptureHarness.Options with { SealedLagBound = TimeSpan.FromSeconds(1) }));
        await h.WaitUntilDurableAsync(running);
        // Entries over more than the bound (ts seconds) while nothing can be sealed.
        for (int i = 1; i <= 3; i++)
        {
            await Task.Delay(1100, Ct);
            await h.InsertAsync("orders", 1, startId: i);
        }
        await h.WaitUntilDurableAsync(running);
        await WaitForAsync(() => h.Notices.Any(n => n.Level == Shared.Tasks.EventLevel.Error && n.Message.Contains("behind durable capture", StringComparison.Ordinal)));

        await s3.Client.PutBucketAsync(bucket, Ct);
        await WaitForAsync(() => h.Notices.Any(n => n.Level == Shared.Tasks.EventLevel.Info && n.Message.Contains("within", StringComparison.Ordinal)));
        await running.CatchUpAndStopAsync(h);

        List<CaptureNotice> notices;
        lock (h.Notices) notices = [.. h.Notices.Where(n => n.Message.Contains("durable capture", StringComparison.Ordinal))];
        Assert.Equal([Shared.Tasks.EventLevel.Error, Shared.Tasks.EventLevel.Info], notices.Select(n => n.Level)); // once per episode
        Assert.All(notices, n => Assert.True(n.Event));
        List<SealedLag> lags;
        lock (h.SealedLags) lags = [.. h.SealedLags];
        Assert.Contains(lags, l => l.Seconds > 1 && l.FailuresInARow > 0);
        Assert.Equal(0, lags[^1].Seconds);
        Assert.True(running.Capture.FinalSealReached);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (int i = 0; i < 300 && !condition(); i++)
        {
            await Task.Delay(50, Ct);
        }
        Assert.True(condition(), "the condition did not hold within 15 s");
    }

    [Fact]
    public void Lag_uses_the_wall_clocks_when_both_entries_have_one()
    {
        static CapturedEntry Entry(uint seconds, long wallMs) => new(new OplogTimestamp(seconds, 1), new BsonDocument
        {
            { "ts", new BsonTimestamp((int)seconds, 1) }, { "op", "n" }, { "wall", new BsonDateTime(wallMs) },
        }.ToBson());

        var lag = CaptureLag.Between(Entry(101, 101_250), Entry(100, 100_000));
        Assert.Equal(1.25, lag.Seconds);
        Assert.Equal(0, CaptureLag.Between(Entry(100, 100_000), Entry(100, 100_000)).Seconds);
        var noWall = new CapturedEntry(new OplogTimestamp(97, 1), new BsonDocument { { "ts", new BsonTimestamp(97, 1) }, { "op", "n" } }.ToBson());
        Assert.Equal(4, CaptureLag.Between(Entry(101, 101_250), noWall).Seconds);
    }
}
