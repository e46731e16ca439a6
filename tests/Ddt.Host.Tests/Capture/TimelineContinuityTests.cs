using Amazon.S3;
using MongoDB.Bson;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;
using WapBackup.Testing.Mongo;

namespace WapBackup.Ddt.Host.Tests.Capture;

/// <summary>
/// Never a silent new timeline: a start whose 57019 store is empty or behind the sealed slices
/// continues the slices' chain (or stops with a gap), the store knows where its timeline starts, and
/// a seal whose progress write failed is continued, never sealed again wider beside itself.
/// </summary>
public sealed class TimelineContinuityTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static readonly OplogTimestamp End = new(uint.MaxValue, uint.MaxValue);

    /// <summary>A start that should fail but captures on instead must not hang the test.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Hex(CapturedEntry e) => Convert.ToHexString(e.Bytes.Span);

    public enum StoreLoss { HostReplaced, StoreWiped, StoreBehind }

    [Theory]
    [InlineData(StoreLoss.HostReplaced)]
    [InlineData(StoreLoss.StoreWiped)]
    [InlineData(StoreLoss.StoreBehind)]
    public async Task Start_whose_store_is_empty_or_behind_the_slices_reloads_it_and_resumes_after_the_newest_slice(StoreLoss loss)
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        await h.RunFirstCaptureAsync("orders", before: 5, during: 10);
        var before = await h.StoredAsync();

        switch (loss)
        {
            case StoreLoss.HostReplaced:
                await h.ReplaceStoreAsync(); // a new 57019, the same bucket
                break;
            case StoreLoss.StoreWiped:
                await h.WipeStoreAsync(dropState: false); // capture_state (sealedThrough) survives
                break;
            case StoreLoss.StoreBehind:
                // As if the store came back from an older copy: its newest entries are gone, the slices hold them.
                var entries = h.StoreClient.GetDatabase(CapturedOplogStore.DatabaseName).GetCollection<BsonDocument>("oplog." + h.RepositoryId);
                Assert.True(before.Count >= 4, $"only {before.Count} entries captured");
                await entries.DeleteManyAsync(new BsonDocument("_id", new BsonDocument("$gt", new BsonTimestamp((long)before[before.Count / 2].Ts.Value))), Ct);
                break;
        }
        int kept = (await h.StoredAsync()).Count;
        Assert.True(kept < before.Count, $"the store still holds {kept} of {before.Count} entries");
        await h.InsertAsync("orders", 10, startId: 100); // written while nothing captured

        var second = h.Start();
        await second.CatchUpAndStopAsync(h);

        Assert.Equal(CaptureStartKind.ReloadedFromSlices, second.Capture.Started!.Kind);
        Assert.Equal(before.Count - kept, second.Capture.Started.EntriesReloaded);
        Assert.Equal(before[^1].Ts, second.Capture.Started.Checkpoint!.Value.Ts);
        var stored = await h.StoredAsync();
        Assert.Equal(before.Select(Hex), stored.Take(before.Count).Select(Hex));
        // One gap-free copy of the source from the first capture's start through the outage to now.
        var source = await h.SourceEntriesAsync(stored[0].Ts, stored[^1].Ts);
        Assert.Equal(source.Select(b => Convert.ToHexString(b)), stored.Select(Hex));
        Assert.Equal(Enumerable.Range(100, 10).Select(i => (long)i), h.InsertedIds(stored, "orders").Where(id => id >= 100));
        Assert.Equal(stored.SelectMany(e => e.Bytes.ToArray()).ToArray(), await h.SlicedBytesAsync());
        Assert.Equal(OplogTimestamp.Zero, await h.Store.TimelineStartsAfterAsync(Ct));
        Assert.Empty(h.SealFailures);
    }

    [Fact]
    public async Task Start_with_an_empty_store_after_the_source_rolled_past_the_newest_slice_is_a_gap()
    {
        await using var h = await CaptureHarness.StartAsync(s3, new MongoTestServerOptions { OplogMaxBytes = 8 * 1024 });
        h.Source.RequireTestServer("a tiny OplogMaxBytes rolls the newest slice's last entry off the source's oplog");
        await h.RunFirstCaptureAsync("orders", before: 5, during: 5);
        var sealedEnd = (await h.Slices.NewestAsync(Ct))!.Index.LastTs;

        await h.ReplaceStoreAsync();
        await h.InsertAsync("orders", 200, startId: 100); // far more than 8 KiB while no host captured

        var second = h.Start();
        var gap = await Assert.ThrowsAsync<CaptureGapException>(() => second.Task.WaitAsync(Bound, Ct));
        Assert.Equal(GapKind.Rollover, gap.Kind);
        Assert.Equal(sealedEnd, gap.Checkpoint);
        Assert.Contains(sealedEnd.ToString(), gap.Message, StringComparison.Ordinal);
        Assert.Empty(await h.StoredAsync()); // nothing refilled for a timeline that cannot continue
    }

    [Fact]
    public async Task Replaced_host_whose_source_rolled_past_the_newest_slice_marks_the_repository_for_reinit_and_exits_3()
    {
        await using var h = await CaptureHarness.StartAsync(s3, new MongoTestServerOptions { OplogMaxBytes = 8 * 1024 });
        h.Source.RequireTestServer("a tiny OplogMaxBytes rolls the newest slice's last entry off the source's oplog");
        await h.RunFirstCaptureAsync("orders", before: 3, during: 3);
        await h.ReplaceStoreAsync();
        await h.InsertAsync("orders", 200, startId: 100);
        var repositories = new InMemoryRepositoryStore();
        var tasks = new InMemoryTaskStore();
        var events = new InMemoryTaskEventLog();
        var repository = Samples.Repository();
        await repositories.CreateAsync(repository, Ct);
        var runner = new CaptureRunner(repositories, tasks, events, TimeProvider.System, TextWriter.Synchronized(new StringWriter()));

        int exit = await runner.RunAsync(repository.Id, (_, sink, _, _) => Task.FromResult(h.NewCapture(lagSink: sink)), CancellationToken.None, Ct);

        Assert.Equal(CaptureRunner.ExitGap, exit);
        Assert.Equal(RepositoryStatus.NeedsReinit, (await repositories.GetAsync(repository.Id, Ct)).Status);
        var task = Assert.Single((await tasks.ListByRepositoryAsync(repository.Id, Shared.Ports.PageRequest.First(), Ct)).Items);
        Assert.Equal(BackupTaskStatus.Failed, task.Status);
        var error = Assert.Single(events.All, e => e.Level == EventLevel.Error);
        Assert.Equal("Rollover", error.Details["gap"]);
    }

    [Fact]
    public async Task Store_whose_entry_at_the_newest_slice_differs_is_a_broken_timeline()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        await h.RunFirstCaptureAsync("orders", before: 5, during: 3);

        // The store's copy of the sealed checkpoint differs from the slice's (another timeline's store).
        var last = (await h.Store.LastAsync(Ct))!.Value;
        await h.AlterStoredEntryAsync(last, "other timeline");

        var second = h.Start();
        var gap = await Assert.ThrowsAsync<CaptureGapException>(() => second.Task.WaitAsync(Bound, Ct));
        Assert.Equal(GapKind.BrokenTimeline, gap.Kind);
        Assert.Equal(last.Ts, gap.Checkpoint);
    }

    [Fact]
    public async Task Store_that_starts_after_the_newest_slice_is_a_broken_timeline()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        await h.RunFirstCaptureAsync("orders", before: 5, during: 3);
        var sealedEnd = (await h.Slices.NewestAsync(Ct))!.Index.LastTs;

        // What a start before this change left: a wiped store that began again at the source's newest entry.
        await h.WipeStoreAsync(dropState: true);
        await h.InsertAsync("orders", 3, startId: 100);
        await h.SeedCheckpointAsync();

        var second = h.Start();
        var gap = await Assert.ThrowsAsync<CaptureGapException>(() => second.Task.WaitAsync(Bound, Ct));
        Assert.Equal(GapKind.BrokenTimeline, gap.Kind);
        Assert.Contains(sealedEnd.ToString(), gap.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task First_start_with_object_storage_down_waits_without_a_blind_new_timeline_then_starts_once_it_answers()
    {
        string bucket = $"wap-late-{Guid.NewGuid():N}"[..30]; // does not exist: storage "down"
        await using var h = await CaptureHarness.StartAsync(s3, bucket: bucket);
        await h.InsertAsync("orders", 1);
        var running = h.Start();
        await h.WaitForNoticesAsync("holds no checkpoint", 2);

        // Waiting, loudly (one event, a log line per try), and nothing captured blind meanwhile.
        Assert.False(running.Task.IsCompleted);
        Assert.Empty(await h.StoredAsync());
        Assert.Single(h.NoticesSoFar(), n => n.Event && n.Message.Contains("holds no checkpoint", StringComparison.Ordinal));

        await s3.Client.PutBucketAsync(bucket, Ct);
        await h.InsertAsync("orders", 2, startId: 1);
        await running.CatchUpAndStopAsync(h);
        Assert.Equal(CaptureStartKind.NewTimeline, running.Capture.Started!.Kind);
        Assert.NotEmpty(await h.StoredAsync());
    }

    [Fact]
    public async Task A_stop_while_a_first_start_waits_for_object_storage_ends_cleanly_having_stored_nothing()
    {
        string bucket = $"wap-late-{Guid.NewGuid():N}"[..30];
        await using var h = await CaptureHarness.StartAsync(s3, bucket: bucket);
        await h.InsertAsync("orders", 1);
        var running = h.Start();
        await h.WaitForNoticesAsync("holds no checkpoint", 1);

        await running.Stop.CancelAsync();
        await running.Task.WaitAsync(Bound, Ct);

        Assert.Null(running.Capture.Started);
        Assert.Empty(await h.StoredAsync());
    }

    [Fact]
    public async Task Store_reloaded_after_its_oldest_slices_were_pruned_refuses_reads_from_before_its_timeline_start()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        await h.InsertAsync("orders", 3);
        var first = h.Start();
        await h.WaitUntilDurableAsync(first);
        await h.WaitUntilSealedAsync(first.Capture.Durable!.Value.Ts); // the first slice
        await h.InsertAsync("orders", 5, startId: 3);
        await first.CatchUpAndStopAsync(h); // a second slice after it

        var chain = await h.Slices.ListChainAsync(OplogTimestamp.Zero, (await h.Slices.NewestAsync(Ct))!.Index.LastTs, Ct);
        Assert.True(chain.Count >= 2, $"expected at least two slices, got {chain.Count}");
        var pruned = chain[0];
        await h.Objects.DeleteAsync([pruned.IndexKey, OplogSliceLayout.DataKeyOf(pruned.IndexKey)], Ct);
        await h.ReplaceStoreAsync();

        var second = h.Start();
        await second.CatchUpAndStopAsync(h);

        Assert.Equal(pruned.Index.LastTs, await h.Store.TimelineStartsAfterAsync(Ct));
        var error = await Assert.ThrowsAsync<OplogChainException>(async () =>
        {
            await foreach (var _ in h.Store.ReadAsync(OplogTimestamp.Zero, End, Ct)) { }
        });
        Assert.Equal((OplogChainFault.Hole, OplogTimestamp.Zero, pruned.Index.LastTs), (error.Fault, error.From, error.To));
        var held = new List<CapturedEntry>();
        await foreach (var e in h.Store.ReadAsync(pruned.Index.LastTs, End, Ct)) held.Add(e);
        Assert.Equal(chain[1].Index.FirstTs, held[0].Ts);
        var remaining = await h.Slices.ListChainAsync(chain[1].Index.FirstTs, (await h.Slices.NewestAsync(Ct))!.Index.LastTs, Ct);
        var sliced = new MemoryStream();
        foreach (var slice in remaining) sliced.Write(await h.Slices.ReadAsync(slice, Ct));
        Assert.Equal(held.SelectMany(e => e.Bytes.ToArray()).ToArray(), sliced.ToArray());
    }

    [Fact]
    public async Task Slice_whose_sealedThrough_write_failed_is_continued_not_sealed_again_wider_also_after_a_restart()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        await h.InsertAsync("orders", 1);
        var first = h.Start();
        await h.WaitUntilDurableAsync(first);
        await h.WaitUntilSealedAsync(first.Capture.Durable!.Value.Ts);
        var sealedBefore = await h.Store.SealedThroughAsync(Ct);

        await h.FailStoreCommandAsync("update", "capture_state", times: 10_000);
        await h.InsertAsync("orders", 5, startId: 1); // slice A-B and its index stored, then the sealedThrough write fails
        await h.WaitUntilDurableAsync(first);
        for (int i = 0; i < 600 && h.SealFailures.Count == 0; i++) await Task.Delay(50, Ct);
        Assert.NotEmpty(h.SealFailures);
        await h.InsertAsync("orders", 5, startId: 10); // sealed while the writes still fail: B-C, never A-C
        await first.CatchUpAndStopAsync(h);
        await h.ClearStoreFailPointAsync();
        Assert.Equal(sealedBefore, await h.Store.SealedThroughAsync(Ct));
        Assert.True((await h.Slices.NewestAsync(Ct))!.Index.LastTs > sealedBefore, "no slice was stored while its progress write failed");

        var second = h.Start(); // restart with sealedThrough behind the newest slice
        await h.InsertAsync("orders", 5, startId: 20);
        await second.CatchUpAndStopAsync(h);

        var stored = await h.StoredAsync();
        Assert.Equal(stored.SelectMany(e => e.Bytes.ToArray()).ToArray(), await h.SlicedBytesAsync()); // one chain, no overlap
        Assert.Equal(stored[^1].Ts, await h.Store.SealedThroughAsync(Ct));
    }

    [Fact]
    public async Task Slice_whose_index_write_failed_after_storing_it_is_continued_not_sealed_again()
    {
        var objects = new IndexStoredThenFailsOnce();
        await using var h = await CaptureHarness.StartAsync(s3, wrapObjects: inner => objects.Wrapping(inner));
        await h.InsertAsync("orders", 1);
        var running = h.Start();
        await h.WaitUntilDurableAsync(running);
        await h.WaitUntilSealedAsync(running.Capture.Durable!.Value.Ts);

        objects.Arm(); // the next index is stored, then its write reports a failure (a timeout after the upload)
        await h.InsertAsync("orders", 5, startId: 1);
        await h.WaitUntilDurableAsync(running);
        for (int i = 0; i < 600 && h.SealFailures.Count == 0; i++) await Task.Delay(50, Ct);
        Assert.NotEmpty(h.SealFailures);
        await h.InsertAsync("orders", 5, startId: 10);
        await running.CatchUpAndStopAsync(h);

        var stored = await h.StoredAsync();
        Assert.Equal(stored.SelectMany(e => e.Bytes.ToArray()).ToArray(), await h.SlicedBytesAsync()); // one chain, no overlap
        Assert.Equal(stored[^1].Ts, await h.Store.SealedThroughAsync(Ct));
    }

    /// <summary>Stores the next slice index as asked, then throws as if the request had timed out.</summary>
    private sealed class IndexStoredThenFailsOnce : IObjectStore
    {
        private IObjectStore _inner = null!;
        private volatile bool _armed;

        public IObjectStore Wrapping(IObjectStore inner)
        {
            _inner = inner;
            return this;
        }

        public void Arm() => _armed = true;

        public async Task<StoredObject> PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
        {
            var stored = await _inner.PutAsync(key, content, cancellationToken);
            if (_armed && key.EndsWith(OplogSliceLayout.IndexSuffix, StringComparison.Ordinal))
            {
                _armed = false;
                throw new TimeoutException($"injected: {key} was stored but the answer was lost");
            }
            return stored;
        }

        public Task<StoredObject> UploadAsync(string key, Stream content, long? expectedSize, CancellationToken cancellationToken) => _inner.UploadAsync(key, content, expectedSize, cancellationToken);

        public Task<byte[]> GetAsync(string key, ObjectChecksum? expected, CancellationToken cancellationToken) => _inner.GetAsync(key, expected, cancellationToken);

        public Task<Stream> OpenReadAsync(string key, ObjectChecksum expected, CancellationToken cancellationToken) => _inner.OpenReadAsync(key, expected, cancellationToken);

        public IAsyncEnumerable<ObjectListing> ListAsync(string prefix, CancellationToken cancellationToken) => _inner.ListAsync(prefix, cancellationToken);

        public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) => _inner.DeleteAsync(keys, cancellationToken);
    }

    [Fact]
    public async Task SealedThrough_only_moves_forward()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        await h.Store.SetSealedThroughAsync(new OplogTimestamp(200, 1), Ct);
        await h.Store.SetSealedThroughAsync(new OplogTimestamp(100, 1), Ct); // a late write of an older seal
        Assert.Equal(new OplogTimestamp(200, 1), await h.Store.SealedThroughAsync(Ct));
    }
}
