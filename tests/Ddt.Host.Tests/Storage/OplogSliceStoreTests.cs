using Amazon.S3.Model;
using MongoDB.Bson;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Storage;
using WapBackup.Testing;

namespace WapBackup.Ddt.Host.Tests.Storage;

/// <summary>Sealed slices in s3rver: real oplog entries from the fixtures, zstd, index verified on read.</summary>
public sealed class OplogSliceStoreTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private const string Fixture = "percona-backup-mongodb/e2e-tests/docker/backups/pbm_disttxn_50/2022-02-07T14.05.59Z_cfg.oplog.bson";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sealed_slice_reads_back_byte_for_byte_with_its_index()
    {
        byte[] entries = await File.ReadAllBytesAsync(SharedFixtures.PathOf("oplog/" + Fixture), Ct);
        string bucket = await s3.NewBucketAsync();
        var slices = new OplogSliceStore(new S3ObjectStore(s3.Client, bucket), "backups", "repo-1");

        var index = await slices.SealAsync(entries, null, Ct);

        long expectedCount = 0;
        foreach (var _ in BsonDocumentSplitter.Split(entries)) expectedCount++;
        Assert.Equal(expectedCount, index.Count);
        Assert.Equal(ObjectChecksum.Of(entries), index.Uncompressed);
        Assert.True(index.Compressed.Size < entries.Length, "zstd must compress an oplog");

        var only = Assert.Single(await slices.ListChainAsync(index.FirstTs, index.LastTs, Ct));
        Assert.Equal(index, only.Index);

        Assert.Equal(entries, await slices.ReadAsync(only, Ct));
    }

    private async Task<OplogSliceStore> NewSlicesAsync() =>
        new(new S3ObjectStore(s3.Client, await s3.NewBucketAsync()), "", "r");

    private static async Task<List<(OplogTimestamp First, OplogTimestamp Last)>> ChainAsync(OplogSliceStore slices, OplogTimestamp from, OplogTimestamp to) =>
        [.. (await slices.ListChainAsync(from, to, Ct)).Select(s => (s.Index.FirstTs, s.Index.LastTs))];

    [Fact]
    public async Task Chain_lists_the_linked_slices_meeting_the_range_in_ts_order()
    {
        var slices = await NewSlicesAsync();
        // Three linked slices on two days, sealed out of order.
        await slices.SealAsync(Entries(86400 * 2 + 10, 3), new OplogTimestamp(86400 + 100, 2), Ct);
        await slices.SealAsync(Entries(86400 + 5, 2), null, Ct);
        await slices.SealAsync(Entries(86400 + 100, 2), new OplogTimestamp(86400 + 5, 2), Ct);

        var all = await ChainAsync(slices, OplogTimestamp.Zero, new OplogTimestamp(86400 * 2 + 10, 3));
        Assert.Equal([new OplogTimestamp(86400 + 5, 1), new OplogTimestamp(86400 + 100, 1), new OplogTimestamp(86400 * 2 + 10, 1)], all.Select(s => s.First));

        // [86405.2, 86500.1] touches the first slice's last entry and the second slice's first.
        var some = await ChainAsync(slices, new OplogTimestamp(86400 + 5, 2), new OplogTimestamp(86400 + 100, 1));
        Assert.Equal([new OplogTimestamp(86400 + 5, 1), new OplogTimestamp(86400 + 100, 1)], some.Select(s => s.First));
        // Between two linked slices there is no entry: the later slice alone proves the range.
        var between = await ChainAsync(slices, new OplogTimestamp(86400 + 5, 3), new OplogTimestamp(86400 + 100, 1));
        Assert.Equal([new OplogTimestamp(86400 + 100, 1)], between.Select(s => s.First));
        var newest = await slices.NewestAsync(Ct);
        Assert.Equal(new OplogTimestamp(86400 * 2 + 10, 3), newest!.Index.LastTs);
        Assert.Null(await (await NewSlicesAsync()).NewestAsync(Ct));
    }

    [Fact]
    public async Task Chain_with_a_missing_slice_fails_naming_the_two_timestamps_of_the_hole()
    {
        var slices = await NewSlicesAsync();
        await slices.SealAsync(Entries(100, 2), null, Ct);
        await slices.SealAsync(Entries(300, 2), new OplogTimestamp(200, 2), Ct); // 200:1-200:2 was never stored

        var hole = await Assert.ThrowsAsync<OplogChainException>(() => slices.ListChainAsync(OplogTimestamp.Zero, new OplogTimestamp(300, 2), Ct));
        Assert.Equal(OplogChainFault.Hole, hole.Fault);
        Assert.Equal((new OplogTimestamp(100, 2), new OplogTimestamp(300, 1)), (hole.From, hole.To));
        Assert.Contains("100:2", hole.Message, StringComparison.Ordinal);
        Assert.Contains("300:1", hole.Message, StringComparison.Ordinal);
        // A range on one side of the hole is still whole.
        Assert.Single(await ChainAsync(slices, new OplogTimestamp(300, 1), new OplogTimestamp(300, 2)));
    }

    [Fact]
    public async Task A_new_timeline_after_a_slice_is_a_hole_and_a_range_before_the_first_slice_is_not_held()
    {
        var slices = await NewSlicesAsync();
        await slices.SealAsync(Entries(100, 2), null, Ct);
        await slices.SealAsync(Entries(300, 2), null, Ct); // a second "first of a timeline": nothing links it to 100:2

        var hole = await Assert.ThrowsAsync<OplogChainException>(() => slices.ListChainAsync(new OplogTimestamp(100, 1), new OplogTimestamp(300, 1), Ct));
        Assert.Equal((OplogChainFault.Hole, new OplogTimestamp(100, 2), new OplogTimestamp(300, 1)), (hole.Fault, hole.From, hole.To));

        // The predecessor of the oldest slice was pruned: a range reaching before it is not held.
        var pruned = await NewSlicesAsync();
        await pruned.SealAsync(Entries(500, 2), new OplogTimestamp(400, 7), Ct);
        var before = await Assert.ThrowsAsync<OplogChainException>(() => pruned.ListChainAsync(new OplogTimestamp(400, 1), new OplogTimestamp(500, 2), Ct));
        Assert.Equal((OplogChainFault.Hole, new OplogTimestamp(400, 1), new OplogTimestamp(400, 7)), (before.Fault, before.From, before.To));
        Assert.Single(await ChainAsync(pruned, new OplogTimestamp(400, 8), new OplogTimestamp(500, 2)));
    }

    [Fact]
    public async Task Chain_ending_before_the_range_or_an_empty_range_fails()
    {
        var slices = await NewSlicesAsync();
        await slices.SealAsync(Entries(100, 2), null, Ct);
        var end = await Assert.ThrowsAsync<OplogChainException>(() => slices.ListChainAsync(new OplogTimestamp(100, 1), new OplogTimestamp(150, 1), Ct));
        Assert.Equal((OplogChainFault.Hole, new OplogTimestamp(100, 2), new OplogTimestamp(150, 1)), (end.Fault, end.From, end.To));
        var none = await Assert.ThrowsAsync<OplogChainException>(() => slices.ListChainAsync(new OplogTimestamp(200, 1), new OplogTimestamp(250, 1), Ct));
        Assert.Equal((new OplogTimestamp(200, 1), new OplogTimestamp(250, 1)), (none.From, none.To));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => slices.ListChainAsync(new OplogTimestamp(2, 1), new OplogTimestamp(1, 1), Ct));
    }

    [Fact]
    public async Task A_range_ending_between_two_linked_slices_is_held_because_the_later_slice_links_to_the_earlier()
    {
        // Found by the 60-day simulation: a restore --at an instant after one slice's last entry and before the next
        // slice's first (no entry in between) was refused as "not sealed" though the next slice proves nothing is missing.
        var slices = await NewSlicesAsync();
        await slices.SealAsync(Entries(100, 2), null, Ct);
        await slices.SealAsync(Entries(300, 2), new OplogTimestamp(100, 2), Ct);

        Assert.Equal([(new OplogTimestamp(100, 1), new OplogTimestamp(100, 2))], await ChainAsync(slices, new OplogTimestamp(100, 1), new OplogTimestamp(200, uint.MaxValue)));

        // Only a link proves it: a later slice of a new timeline, or none, leaves (100:2, 200:max] unproven.
        var unlinked = await NewSlicesAsync();
        await unlinked.SealAsync(Entries(100, 2), null, Ct);
        await unlinked.SealAsync(Entries(300, 2), null, Ct);
        var hole = await Assert.ThrowsAsync<OplogChainException>(() => unlinked.ListChainAsync(new OplogTimestamp(100, 1), new OplogTimestamp(200, 1), Ct));
        Assert.Equal((OplogChainFault.Hole, new OplogTimestamp(100, 2), new OplogTimestamp(200, 1)), (hole.Fault, hole.From, hole.To));
    }

    [Fact]
    public async Task Overlapping_slices_fail_naming_the_overlap()
    {
        var slices = await NewSlicesAsync();
        await slices.SealAsync(Entries(100, 2), null, Ct);
        await slices.SealAsync(Entries(200, 2), new OplogTimestamp(100, 2), Ct);
        // A-C beside A-B: the same entries sealed twice with a wider end.
        await slices.SealAsync(Entries(200, 5), new OplogTimestamp(100, 2), Ct);

        var overlap = await Assert.ThrowsAsync<OplogChainException>(() => slices.ListChainAsync(OplogTimestamp.Zero, new OplogTimestamp(200, 5), Ct));
        Assert.Equal(OplogChainFault.Overlap, overlap.Fault);
        Assert.Equal((new OplogTimestamp(200, 1), new OplogTimestamp(200, 2)), (overlap.From, overlap.To));
    }

    [Fact]
    public async Task Chain_prefers_a_slice_exactly_covering_a_run_at_every_step_of_its_compaction()
    {
        var objects = new S3ObjectStore(s3.Client, await s3.NewBucketAsync());
        var slices = new OplogSliceStore(objects, "", "r");
        await slices.SealAsync(Entries(100, 2), null, Ct);
        (uint Seconds, int Count)[] run = [(200, 3), (205, 2), (210, 4)];
        var previous = new OplogTimestamp(100, 2);
        foreach (var (seconds, count) in run)
        {
            previous = (await slices.SealAsync(Entries(seconds, count), previous, Ct)).LastTs;
        }
        await slices.SealAsync(Entries(300, 2), previous, Ct);
        var (from, to) = (OplogTimestamp.Zero, new OplogTimestamp(300, 2));
        byte[] expected = await EntriesOfAsync(slices, from, to);
        byte[] expectedMiddle = await EntriesOfAsync(slices, new OplogTimestamp(205, 1), new OplogTimestamp(205, 2));

        async Task SameAsBeforeAsync()
        {
            Assert.Equal(expected, await EntriesOfAsync(slices, from, to));
            // A range inside the hour: the compacted slice (or the originals left) hold it whole.
            byte[] middle = await EntriesOfAsync(slices, new OplogTimestamp(205, 1), new OplogTimestamp(205, 2));
            Assert.True(middle.AsSpan().IndexOf(expectedMiddle) >= 0, "the chain for 205:1..205:2 must hold its entries");
        }

        // The compacted slice written beside the originals (data, then index), then the originals deleted oldest first, index before data.
        await slices.SealAsync(run.SelectMany(r => Entries(r.Seconds, r.Count)).ToArray(), new OplogTimestamp(100, 2), Ct);
        await SameAsBeforeAsync();
        foreach (var (seconds, count) in run)
        {
            var (first, last) = (new OplogTimestamp(seconds, 1), new OplogTimestamp(seconds, (uint)count));
            await objects.DeleteAsync([OplogSliceLayout.IndexKey("", "r", first, last)], Ct);
            await SameAsBeforeAsync();
            await objects.DeleteAsync([OplogSliceLayout.DataKey("", "r", first, last)], Ct);
            await SameAsBeforeAsync();
        }
        Assert.Equal(3, (await slices.ListChainAsync(from, to, Ct)).Count);
    }

    /// <summary>The entries of the chain for from..to, concatenated as a restore reads them.</summary>
    internal static async Task<byte[]> EntriesOfAsync(OplogSliceStore slices, OplogTimestamp from, OplogTimestamp to)
    {
        var all = new MemoryStream();
        foreach (var slice in await slices.ListChainAsync(from, to, Ct))
        {
            all.Write(await slices.ReadAsync(slice, Ct));
        }
        return all.ToArray();
    }

    [Fact]
    public async Task A_slice_linking_to_a_previous_ts_not_before_its_first_is_not_sealed()
    {
        var slices = await NewSlicesAsync();
        var error = await Assert.ThrowsAsync<ArgumentException>(() => slices.SealAsync(Entries(100, 2), new OplogTimestamp(100, 1), Ct));
        Assert.Contains("previous", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tampered_slice_is_refused()
    {
        string bucket = await s3.NewBucketAsync();
        var slices = new OplogSliceStore(new S3ObjectStore(s3.Client, bucket), "", "r");
        var index = await slices.SealAsync(Entries(1000, 5), null, Ct);
        string dataKey = OplogSliceLayout.DataKey("", "r", index.FirstTs, index.LastTs);

        // Replace the data object with another valid slice (different entries, same name).
        var other = new OplogSliceStore(new S3ObjectStore(s3.Client, bucket), "other", "r");
        var otherIndex = await other.SealAsync(Entries(1000, 4), null, Ct);
        var bytes = await new S3ObjectStore(s3.Client, bucket).GetAsync(OplogSliceLayout.DataKey("other", "r", otherIndex.FirstTs, otherIndex.LastTs), null, Ct);
        await s3.Client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = dataKey, InputStream = new MemoryStream(bytes), UseChunkEncoding = false }, Ct);

        var slice = (await slices.NewestAsync(Ct))!;
        Assert.Equal(OplogSliceLayout.IndexKeyOf(dataKey), slice.IndexKey);
        await Assert.ThrowsAsync<ObjectChecksumMismatchException>(() => slices.ReadAsync(slice, Ct));
    }

    [Fact]
    public async Task Entries_out_of_ts_order_or_without_ts_are_not_sealed()
    {
        var slices = new OplogSliceStore(new S3ObjectStore(s3.Client, await s3.NewBucketAsync()), "", "r");
        byte[] reversed = [.. Entry(20, 1), .. Entry(10, 1)];
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => slices.SealAsync(reversed, null, Ct));
        Assert.Contains("not after", error.Message, StringComparison.Ordinal);
        byte[] noTs = new BsonDocument("op", "n").ToBson();
        error = await Assert.ThrowsAsync<InvalidDataException>(() => slices.SealAsync(noTs, null, Ct));
        Assert.Contains("no ts", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidDataException>(() => slices.SealAsync(Array.Empty<byte>(), null, Ct));
    }

    internal static byte[] Entries(uint seconds, int count)
    {
        var stream = new MemoryStream();
        for (int i = 1; i <= count; i++) stream.Write(Entry(seconds, (uint)i));
        return stream.ToArray();
    }

    internal static byte[] Entry(uint seconds, uint increment) => new BsonDocument
    {
        { "op", "i" }, { "ns", "db.c" }, { "o", new BsonDocument("_id", (int)increment) },
        { "ts", new BsonTimestamp((int)seconds, (int)increment) }, { "t", 1L }, { "v", 2 },
    }.ToBson();
}
