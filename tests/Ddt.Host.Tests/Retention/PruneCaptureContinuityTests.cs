using Polly;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Host.Tests.Capture;
using WapBackup.Ddt.Host.Tests.Storage;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Retention;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Recovery;

namespace WapBackup.Ddt.Host.Tests.Retention;

/// <summary>
/// Prune deletes the oldest slices and store entries of a live capture's timeline: capture must never see that as a
/// broken timeline (CaptureStart checks the store continues the newest slice, and refills an empty store from the
/// chain's oldest slice), and the slices it seals next still link to the chain.
/// </summary>
public sealed class PruneCaptureContinuityTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly OplogTimestamp End = new(uint.MaxValue, uint.MaxValue);

    private static async Task<List<CapturedEntry>> HeldAsync(CaptureHarness h)
    {
        var held = new List<CapturedEntry>();
        await foreach (var e in h.Store.ReadAsync(await h.Store.TimelineStartsAfterAsync(Ct), End, Ct))
        {
            held.Add(e);
        }
        return held;
    }

    [Fact]
    public async Task Capture_resumes_and_refills_a_wiped_store_after_prune_deleted_the_oldest_slices_and_entries()
    {
        await using var h = await CaptureHarness.StartAsync(s3);
        await h.RunFirstCaptureAsync("orders", before: 3, during: 5);
        for (int round = 0; round < 2; round++)
        {
            // Each graceful stop seals what is left: at least one more slice per round.
            var more = h.Start();
            await h.WaitUntilDurableAsync(more);
            await h.InsertAsync("orders", 5, startId: 100 + 10 * round);
            await more.CatchUpAndStopAsync(h);
        }
        var inventory = await PruneInventory.ReadAsync(h.Objects, new InMemorySnapshotCatalog(), "prefix", h.RepositoryId, Ct);
        Assert.True(inventory.Slices.Count >= 3, $"only {inventory.Slices.Count} slices sealed");
        // The base at the third slice's first entry: the two slices before it go, and the store's entries before it.
        var cut = inventory.Slices[2].First;
        var doomed = PruneWork.SlicesBefore(inventory.Slices, cut);
        Assert.Equal(2, doomed.Count);
        await new PruneExecutor(h.Objects, new InMemorySnapshotCatalog(), ResiliencePipeline.Empty).DeleteSlicesAsync(doomed, Ct);
        long removed = await h.Store.DeleteBeforeAsync(cut, Ct);
        Assert.True(removed > 0);
        var kept = await HeldAsync(h);
        Assert.Equal(cut, kept[0].Ts);
        Assert.Equal(doomed[^1].Last, await h.Store.TimelineStartsAfterAsync(Ct));

        // Capture starts again: the store still continues the newest slice.
        var resumed = h.Start();
        await h.WaitUntilDurableAsync(resumed);
        await h.InsertAsync("orders", 5, startId: 200);
        await resumed.CatchUpAndStopAsync(h);
        Assert.Equal(CaptureStartKind.Resume, resumed.Capture.Started!.Kind);
        var afterResume = await HeldAsync(h);
        Assert.Equal(kept.Select(e => e.Ts), afterResume.Take(kept.Count).Select(e => e.Ts));
        Assert.Equal(Enumerable.Range(200, 5).Select(i => (long)i), h.InsertedIds(afterResume, "orders").Where(id => id >= 200));
        // One range from the oldest slice kept through everything sealed since: the new slices link to the chain.
        var ranges = await new OplogRangeScanner(h.Objects).ScanAsync("prefix", h.RepositoryId, Ct);
        var range = Assert.Single(ranges);
        Assert.Equal(cut, range.First);
        Assert.Equal(afterResume[^1].Ts, range.Last);

        // The store is lost: it is refilled from the oldest slice kept, its timeline starting where that slice's link says.
        await h.WipeStoreAsync(dropState: false);
        var reloaded = h.Start();
        await reloaded.CatchUpAndStopAsync(h);
        Assert.Equal(CaptureStartKind.ReloadedFromSlices, reloaded.Capture.Started!.Kind);
        Assert.Equal(doomed[^1].Last, await h.Store.TimelineStartsAfterAsync(Ct));
        Assert.Equal(afterResume.Select(e => Convert.ToHexString(e.Bytes.Span)), (await HeldAsync(h)).Take(afterResume.Count).Select(e => Convert.ToHexString(e.Bytes.Span)));
        Assert.Empty(h.SealFailures);
    }
}
