using Microsoft.Extensions.Time.Testing;
using MongoDB.Bson;
using WapBackup.Ddt.Compaction;
using WapBackup.Ddt.Host.Tests.Support;
using WapBackup.Ddt.Resilience;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Recovery;
using WapBackup.Shared.Storage;
using static WapBackup.Ddt.Host.Tests.Storage.OplogSliceStoreTests;

namespace WapBackup.Ddt.Host.Tests.Storage;

/// <summary>Slice compaction (decision 0602) in s3rver: hourly slices, crash safety at every step, retries, gaps, large entries.</summary>
public sealed class SliceCompactorTests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private const string Repo = "r";
    private const uint Base = 1_796_000_000 - (1_796_000_000 % 3600); // an hour's start
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<IObjectStore> NewStoreAsync() => new S3ObjectStore(s3.Client, await s3.NewBucketAsync());

    /// <summary><paramref name="perHour"/> linked slices of 3 entries in each of <paramref name="hours"/> hours, then the newest slice two hours later.</summary>
    private static async Task<OplogTimestamp> SealHoursAsync(OplogSliceStore slices, int hours, int perHour)
    {
        OplogTimestamp? previous = null;
        for (int h = 0; h < hours; h++)
        {
            for (int k = 0; k < perHour; k++)
            {
                previous = (await slices.SealAsync(Entries(Base + (uint)(h * 3600 + k * (3600 / perHour)), 3), previous, Ct)).LastTs;
            }
        }
        return (await slices.SealAsync(Entries(Base + (uint)((hours + 1) * 3600), 2), previous, Ct)).LastTs;
    }

    private static SliceCompactor Compactor(IObjectStore objects, uint nowSeconds, CompactionOptions? options = null, int retries = 3) =>
        new(objects, "", Repo, new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(nowSeconds)), options ?? CompactionOptions.Default,
            Retries.Bounded(retries, new Backoff(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5)), _ => true),
            new JsonLineLogger(TextWriter.Null, TimeProvider.System, "compact"));

    private static uint Later(int hours) => Base + (uint)((hours + 3) * 3600);

    private static async Task<List<string>> IndexKeysAsync(IObjectStore objects) =>
        [.. (await ListAsync(objects)).Where(k => k.EndsWith(OplogSliceLayout.IndexSuffix, StringComparison.Ordinal))];

    private static async Task<List<string>> ListAsync(IObjectStore objects)
    {
        var keys = new List<string>();
        await foreach (var o in objects.ListAsync(OplogSliceLayout.OplogFolder("", Repo), Ct))
        {
            keys.Add(o.Key);
        }
        return keys;
    }

    [Fact]
    public async Task Compaction_leaves_one_slice_per_hour_so_the_window_reads_one_index_per_hour()
    {
        var counting = new CountingObjectStore(await NewStoreAsync());
        var slices = new OplogSliceStore(counting, "", Repo);
        // 4 hours of 12 slices (5-minute slices: a day of 5-second ones, scaled down to keep the test fast).
        var end = await SealHoursAsync(slices, hours: 4, perHour: 12);
        byte[] expected = await EntriesOfAsync(slices, OplogTimestamp.Zero, end);
        var scanner = new OplogRangeScanner(counting);
        counting.IndexReads = 0;
        var ranges = await scanner.ScanAsync("", Repo, Ct);
        Assert.Equal(49, counting.IndexReads);

        var counts = await Compactor(counting, Later(4)).RunAsync(dryRun: false, Ct);

        Assert.Equal((48, 4, 96), (counts.SlicesRead, counts.SlicesWritten, counts.ObjectsDeleted));
        counting.IndexReads = 0;
        Assert.Equal(ranges, await scanner.ScanAsync("", Repo, Ct));
        Assert.Equal(5, counting.IndexReads); // one per hour, plus the newest slice
        Assert.Equal(expected, await EntriesOfAsync(slices, OplogTimestamp.Zero, end));
        Assert.Equal(10, (await ListAsync(counting)).Count);
        // Nothing left to do: a second run changes nothing.
        Assert.Equal(CompactionCounts.None, await Compactor(counting, Later(4)).RunAsync(dryRun: false, Ct));
    }

    [Fact]
    public async Task Dry_run_reports_the_compaction_and_changes_nothing()
    {
        var objects = await NewStoreAsync();
        await SealHoursAsync(new OplogSliceStore(objects, "", Repo), hours: 2, perHour: 3);
        var before = await ListAsync(objects);

        var counts = await Compactor(objects, Later(2)).RunAsync(dryRun: true, Ct);

        Assert.Equal((6, 2), (counts.SlicesRead, counts.SlicesWritten));
        Assert.Equal(before, await ListAsync(objects));
    }

    /// <summary>Mutations: 1 data, 2 index, then per original (3) its index and its data.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public async Task Killed_after_any_step_the_chain_reads_the_same_and_a_rerun_finishes_byte_for_byte(int killAfter)
    {
        var objects = await NewStoreAsync();
        var slices = new OplogSliceStore(objects, "", Repo);
        var end = await SealHoursAsync(slices, hours: 1, perHour: 3);
        byte[] expected = await EntriesOfAsync(slices, OplogTimestamp.Zero, end);
        using var kill = new CancellationTokenSource();
        var killing = new KillingObjectStore(objects, killAfter, kill);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Compactor(killing, Later(1)).RunAsync(dryRun: false, kill.Token));
        Assert.Equal(killAfter, killing.Mutations);
        Assert.Equal(expected, await EntriesOfAsync(slices, OplogTimestamp.Zero, end)); // readable in every intermediate state
        string compactedData = OplogSliceLayout.DataKey("", Repo, new OplogTimestamp(Base, 1), new OplogTimestamp(Base + 2400, 3));
        byte[]? killedData = killAfter == 1 ? await objects.GetAsync(compactedData, null, Ct) : null;

        await Compactor(objects, Later(1)).RunAsync(dryRun: false, Ct);

        Assert.Equal(expected, await EntriesOfAsync(slices, OplogTimestamp.Zero, end));
        Assert.Equal(4, (await ListAsync(objects)).Count); // the compacted slice and the newest: data and index each
        if (killAfter == 1)
        {
            // Killed before its index: the rerun wrote the very same bytes.
            Assert.Equal(killedData, await objects.GetAsync(compactedData, null, Ct));
        }
    }

    [Fact]
    public async Task Transient_store_errors_are_retried_and_persistent_ones_fail_loudly_leaving_a_readable_chain()
    {
        var objects = await NewStoreAsync();
        var slices = new OplogSliceStore(objects, "", Repo);
        var end = await SealHoursAsync(slices, hours: 2, perHour: 3);
        byte[] expected = await EntriesOfAsync(slices, OplogTimestamp.Zero, end);
        var faulty = new FaultyObjectStore(objects);
        // SDK timeouts arrive as OperationCanceledException with the caller's token not cancelled.
        faulty.FailNextWrites(new OperationCanceledException("timeout"), new TaskCanceledException("timeout"));
        faulty.FailNextDeletes(new OperationCanceledException("timeout"));

        var counts = await Compactor(faulty, Later(2)).RunAsync(dryRun: false, Ct);

        Assert.Equal((0, 0), (faulty.PendingFailures, faulty.PendingDeleteFailures));
        Assert.Equal(2, counts.SlicesWritten);
        Assert.Equal(expected, await EntriesOfAsync(slices, OplogTimestamp.Zero, end));

        var again = await NewStoreAsync();
        var againSlices = new OplogSliceStore(again, "", Repo);
        end = await SealHoursAsync(againSlices, hours: 1, perHour: 3);
        faulty = new FaultyObjectStore(again);
        faulty.FailNextDeletes([.. Enumerable.Range(0, 10).Select(_ => new OperationCanceledException("timeout"))]);
        await Assert.ThrowsAsync<OperationCanceledException>(() => Compactor(faulty, Later(1), retries: 2).RunAsync(dryRun: false, Ct));
        Assert.NotEmpty(await EntriesOfAsync(againSlices, OplogTimestamp.Zero, end));
        Assert.Equal(5, (await IndexKeysAsync(again)).Count); // nothing deleted: 3 originals, the compacted slice, the newest
    }

    [Fact]
    public async Task Compaction_never_crosses_a_gap_never_takes_the_newest_or_young_slices_and_never_a_run_of_one()
    {
        var objects = await NewStoreAsync();
        var slices = new OplogSliceStore(objects, "", Repo);
        var a = await slices.SealAsync(Entries(Base, 2), null, Ct);
        var b = await slices.SealAsync(Entries(Base + 60, 2), a.LastTs, Ct);
        // A hole: this slice continues one that is missing.
        var c = await slices.SealAsync(Entries(Base + 180, 2), new OplogTimestamp(Base + 120, 9), Ct);
        var d = await slices.SealAsync(Entries(Base + 240, 2), c.LastTs, Ct);
        // A new timeline (re-init).
        var e = await slices.SealAsync(Entries(Base + 300, 2), null, Ct);
        // Alone in its hour.
        var f = await slices.SealAsync(Entries(Base + 3600, 2), e.LastTs, Ct);
        // Two young slices (under an hour old) in the next hour, the second the newest.
        var g = await slices.SealAsync(Entries(Base + 7200, 2), f.LastTs, Ct);
        await slices.SealAsync(Entries(Base + 7260, 2), g.LastTs, Ct);
        var ranges = await new OplogRangeScanner(objects).ScanAsync("", Repo, Ct);

        var counts = await Compactor(objects, Base + 7200 + 3500).RunAsync(dryRun: false, Ct);

        Assert.Equal((4, 2), (counts.SlicesRead, counts.SlicesWritten));
        string Name(OplogSliceIndex first, OplogSliceIndex last) => OplogSliceLayout.IndexKey("", Repo, first.FirstTs, last.LastTs);
        Assert.Equal(
            [Name(a, b), Name(c, d), Name(e, e), Name(f, f), Name(g, g), OplogSliceLayout.IndexKey("", Repo, new OplogTimestamp(Base + 7260, 1), new OplogTimestamp(Base + 7260, 2))],
            await IndexKeysAsync(objects));
        Assert.Equal(ranges, await new OplogRangeScanner(objects).ScanAsync("", Repo, Ct));
    }

    [Fact]
    public async Task A_16_MiB_entry_survives_compaction_byte_identical()
    {
        var objects = await NewStoreAsync();
        var slices = new OplogSliceStore(objects, "", Repo);
        // An entry at the server's limit (16 MiB + 16 KiB: capture stores it in 8 MiB parts, decision 0413; a slice holds it whole).
        var payload = new byte[(16 * 1024 * 1024) + (16 * 1024) - 200];
        new Random(7).NextBytes(payload);
        byte[] large = new BsonDocument
        {
            { "op", "i" }, { "ns", "db.c" }, { "o", new BsonDocument { { "_id", 1 }, { "b", new BsonBinaryData(payload) } } },
            { "ts", new BsonTimestamp((int)Base + 10, 1) }, { "t", 1L }, { "v", 2 },
        }.ToBson();
        var first = await slices.SealAsync(Entries(Base, 2), null, Ct);
        var big = await slices.SealAsync(large, first.LastTs, Ct);
        var after = await slices.SealAsync(Entries(Base + 20, 2), big.LastTs, Ct);
        var end = (await slices.SealAsync(Entries(Base + 7200, 1), after.LastTs, Ct)).LastTs;
        byte[] expected = await EntriesOfAsync(slices, OplogTimestamp.Zero, end);

        var counts = await Compactor(objects, Later(1)).RunAsync(dryRun: false, Ct);

        Assert.Equal((3, 1), (counts.SlicesRead, counts.SlicesWritten));
        var chain = await slices.ListChainAsync(OplogTimestamp.Zero, end, Ct);
        Assert.Equal(2, chain.Count);
        byte[] compacted = await slices.ReadAsync(chain[0], Ct);
        Assert.Equal(expected.AsSpan(0, compacted.Length).ToArray(), compacted);
        Assert.True(compacted.AsSpan().IndexOf(large) >= 0, "the large entry is held whole");
        Assert.Equal(expected, await EntriesOfAsync(slices, OplogTimestamp.Zero, end));
    }

    [Fact]
    public async Task A_chain_listed_while_a_compaction_replaces_its_slices_is_listed_again_and_reads_the_same_entries()
    {
        var inner = await NewStoreAsync();
        var hooked = new CountingObjectStore(inner);
        var slices = new OplogSliceStore(hooked, "", Repo);
        var end = await SealHoursAsync(slices, hours: 2, perHour: 4);
        byte[] expected = await EntriesOfAsync(slices, OplogTimestamp.Zero, end);
        // Between the restore's listing and its first index read, the agent's whole compaction pass runs.
        bool compacted = false;
        hooked.BeforeIndexRead = async () =>
        {
            if (!compacted)
            {
                compacted = true;
                Assert.Equal(8, (await Compactor(inner, Later(2)).RunAsync(dryRun: false, Ct)).SlicesRead);
            }
        };

        Assert.Equal(expected, await EntriesOfAsync(slices, OplogTimestamp.Zero, end));
        Assert.True(compacted);
    }

    /// <summary>Counts GETs of slice indexes.</summary>
    private sealed class CountingObjectStore(IObjectStore inner) : IObjectStore
    {
        private int _indexReads;

        public int IndexReads
        {
            get => Volatile.Read(ref _indexReads);
            set => Volatile.Write(ref _indexReads, value);
        }

        /// <summary>Runs before each index GET: what another process does between a reader's listing and its reads.</summary>
        public Func<Task>? BeforeIndexRead { get; set; }

        public async Task<byte[]> GetAsync(string key, ObjectChecksum? expected, CancellationToken cancellationToken)
        {
            if (key.EndsWith(OplogSliceLayout.IndexSuffix, StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _indexReads);
                if (BeforeIndexRead is { } before)
                {
                    await before();
                }
            }
            return await inner.GetAsync(key, expected, cancellationToken);
        }

        public Task<StoredObject> PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken) => inner.PutAsync(key, content, cancellationToken);

        public Task<StoredObject> UploadAsync(string key, Stream content, long? expectedSize, CancellationToken cancellationToken) => inner.UploadAsync(key, content, expectedSize, cancellationToken);

        public Task<Stream> OpenReadAsync(string key, ObjectChecksum expected, CancellationToken cancellationToken) => inner.OpenReadAsync(key, expected, cancellationToken);

        public IAsyncEnumerable<ObjectListing> ListAsync(string prefix, CancellationToken cancellationToken) => inner.ListAsync(prefix, cancellationToken);

        public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) => inner.DeleteAsync(keys, cancellationToken);
    }

    /// <summary>A kill -9 after the n-th write or delete: that one is done, then the run's token is cancelled and nothing more happens.</summary>
    private sealed class KillingObjectStore(IObjectStore inner, int killAfter, CancellationTokenSource kill) : IObjectStore
    {
        public int Mutations { get; private set; }

        private async Task<T> MutateAsync<T>(Func<Task<T>> mutation)
        {
            kill.Token.ThrowIfCancellationRequested();
            var result = await mutation();
            if (++Mutations == killAfter)
            {
                await kill.CancelAsync();
                kill.Token.ThrowIfCancellationRequested();
            }
            return result;
        }

        public Task<StoredObject> PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken) =>
            MutateAsync(() => inner.PutAsync(key, content, CancellationToken.None));

        public Task<StoredObject> UploadAsync(string key, Stream content, long? expectedSize, CancellationToken cancellationToken) =>
            MutateAsync(() => inner.UploadAsync(key, content, expectedSize, CancellationToken.None));

        public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) =>
            MutateAsync(async () =>
            {
                await inner.DeleteAsync(keys, CancellationToken.None);
                return 0;
            });

        public Task<byte[]> GetAsync(string key, ObjectChecksum? expected, CancellationToken cancellationToken) => inner.GetAsync(key, expected, cancellationToken);

        public Task<Stream> OpenReadAsync(string key, ObjectChecksum expected, CancellationToken cancellationToken) => inner.OpenReadAsync(key, expected, cancellationToken);

        public IAsyncEnumerable<ObjectListing> ListAsync(string prefix, CancellationToken cancellationToken) => inner.ListAsync(prefix, cancellationToken);
    }
}
