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

        var index = await slices.SealAsync(entries, Ct);

        long expectedCount = 0;
        foreach (var _ in BsonDocumentSplitter.Split(entries)) expectedCount++;
        Assert.Equal(expectedCount, index.Count);
        Assert.Equal(ObjectChecksum.Of(entries), index.Uncompressed);
        Assert.True(index.Compressed.Size < entries.Length, "zstd must compress an oplog");

        var listed = new List<(string IndexKey, OplogTimestamp First, OplogTimestamp Last)>();
        await foreach (var item in slices.ListAsync(index.FirstTs, index.LastTs, Ct)) listed.Add(item);
        var only = Assert.Single(listed);
        Assert.Equal((index.FirstTs, index.LastTs), (only.First, only.Last));

        var (readIndex, readEntries) = await slices.ReadAsync(only.IndexKey, Ct);
        Assert.Equal(index, readIndex);
        Assert.Equal(entries, readEntries);
    }

    [Fact]
    public async Task List_filters_by_range_and_orders_by_ts()
    {
        var slices = new OplogSliceStore(new S3ObjectStore(s3.Client, await s3.NewBucketAsync()), "", "r");
        // Three slices on two days, sealed out of order.
        await slices.SealAsync(Entries(86400 * 2 + 10, 3), Ct);
        await slices.SealAsync(Entries(86400 + 5, 2), Ct);
        await slices.SealAsync(Entries(86400 + 100, 2), Ct);

        var all = new List<OplogTimestamp>();
        await foreach (var item in slices.ListAsync(OplogTimestamp.Zero, new OplogTimestamp(uint.MaxValue, uint.MaxValue), Ct)) all.Add(item.First);
        Assert.Equal([new OplogTimestamp(86400 + 5, 1), new OplogTimestamp(86400 + 100, 1), new OplogTimestamp(86400 * 2 + 10, 1)], all);

        var some = new List<OplogTimestamp>();
        // [86405.2, 86500.1] touches the first slice's last entry and the second slice's first.
        await foreach (var item in slices.ListAsync(new OplogTimestamp(86400 + 5, 2), new OplogTimestamp(86400 + 100, 1), Ct)) some.Add(item.First);
        Assert.Equal([new OplogTimestamp(86400 + 5, 1), new OplogTimestamp(86400 + 100, 1)], some);
        var none = new List<OplogTimestamp>();
        await foreach (var item in slices.ListAsync(new OplogTimestamp(86400 + 5, 3), new OplogTimestamp(86400 + 99, 0), Ct)) none.Add(item.First);
        Assert.Empty(none);
    }

    [Fact]
    public async Task Tampered_slice_is_refused()
    {
        string bucket = await s3.NewBucketAsync();
        var slices = new OplogSliceStore(new S3ObjectStore(s3.Client, bucket), "", "r");
        var index = await slices.SealAsync(Entries(1000, 5), Ct);
        string dataKey = OplogSliceLayout.DataKey("", "r", index.FirstTs, index.LastTs);

        // Replace the data object with another valid slice (different entries, same name).
        var other = new OplogSliceStore(new S3ObjectStore(s3.Client, bucket), "other", "r");
        var otherIndex = await other.SealAsync(Entries(1000, 4), Ct);
        var bytes = await new S3ObjectStore(s3.Client, bucket).GetAsync(OplogSliceLayout.DataKey("other", "r", otherIndex.FirstTs, otherIndex.LastTs), null, Ct);
        await s3.Client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = dataKey, InputStream = new MemoryStream(bytes), UseChunkEncoding = false }, Ct);

        await Assert.ThrowsAsync<ObjectChecksumMismatchException>(() => slices.ReadAsync(OplogSliceLayout.IndexKeyOf(dataKey), Ct));
    }

    [Fact]
    public async Task Entries_out_of_ts_order_or_without_ts_are_not_sealed()
    {
        var slices = new OplogSliceStore(new S3ObjectStore(s3.Client, await s3.NewBucketAsync()), "", "r");
        byte[] reversed = [.. Entry(20, 1), .. Entry(10, 1)];
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => slices.SealAsync(reversed, Ct));
        Assert.Contains("not after", error.Message, StringComparison.Ordinal);
        byte[] noTs = new BsonDocument("op", "n").ToBson();
        error = await Assert.ThrowsAsync<InvalidDataException>(() => slices.SealAsync(noTs, Ct));
        Assert.Contains("no ts", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidDataException>(() => slices.SealAsync(Array.Empty<byte>(), Ct));
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
