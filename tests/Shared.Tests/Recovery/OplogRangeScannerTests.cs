using System.Runtime.CompilerServices;
using System.Text;
using CsCheck;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Recovery;
using WapBackup.Shared.Retention;
using WapBackup.Shared.Storage;

namespace WapBackup.Shared.Tests.Recovery;

/// <summary>The ranges read from slice indexes: links make ranges, a missing or unlinked slice makes a gap, an overlap is refused.</summary>
public sealed class OplogRangeScannerTests
{
    private const string Repository = "repo-scan";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly ObjectChecksum Any = ObjectChecksum.Of([1]);

    /// <summary>One hour apart per slice, so a chain crosses day folders.</summary>
    private static OplogTimestamp At(int slice, uint offset) => new(1_796_000_000 + (uint)slice * 3600 + offset, 1);

    private static void Seal(MemoryObjectStore store, OplogTimestamp first, OplogTimestamp last, OplogTimestamp? previous, long count = 1)
    {
        var index = new OplogSliceIndex(Repository, first, last, count, Any, Any, previous);
        store.Objects[OplogSliceLayout.DataKey("p", Repository, first, last)] = [0];
        store.Objects[OplogSliceLayout.IndexKey("p", Repository, first, last)] = Encoding.UTF8.GetBytes(index.ToJson());
    }

    [Fact]
    public void Random_chains_with_lost_slices_and_new_timelines_scan_to_the_ranges_their_links_make()
    {
        // Per slice: 0 = sealed and linked, 1 = lost (deleted, pruned), 2 = sealed starting a new timeline.
        Gen.Int[0, 9].Select(k => k < 7 ? 0 : k == 7 ? 1 : 2).Array[1, 60].Sample(kinds =>
        {
            var store = new MemoryObjectStore();
            var expected = new List<OplogRange>();
            OplogTimestamp? previousLast = null;
            bool linked = false;
            for (int i = 0; i < kinds.Length; i++)
            {
                var (first, last) = (At(i, 0), At(i, 100));
                if (kinds[i] != 1)
                {
                    var link = kinds[i] == 2 ? null : previousLast;
                    Seal(store, first, last, link);
                    if (linked && link is not null)
                    {
                        expected[^1] = expected[^1] with { Last = last };
                    }
                    else
                    {
                        expected.Add(new OplogRange(first, last));
                    }
                }
                linked = kinds[i] != 1;
                previousLast = last; // a lost slice still existed: the next one links to it
            }
            var ranges = new OplogRangeScanner(store, readsInFlight: 3).ScanAsync("p", Repository, Ct).GetAwaiter().GetResult();
            Assert.Equal(expected, ranges);
        }, iter: 300);
    }

    [Fact]
    public async Task Overlapping_slices_are_refused_naming_both()
    {
        var store = new MemoryObjectStore();
        Seal(store, At(0, 0), At(0, 50), null);
        Seal(store, At(0, 0), At(0, 90), null); // the same start sealed twice: A-B beside A-C

        var e = await Assert.ThrowsAsync<OplogOverlapException>(() => new OplogRangeScanner(store).ScanAsync("p", Repository, Ct));

        Assert.Contains(OplogSliceLayout.FormatTimestamp(At(0, 50)), e.Message, StringComparison.Ordinal);
        Assert.Contains(OplogSliceLayout.FormatTimestamp(At(0, 90)), e.Message, StringComparison.Ordinal);
    }

    private static OplogTimestamp T(uint seconds) => new(1_796_000_000 + seconds, 1);

    /// <summary>A slice before the hour, four linked 5-second slices in it (2 entries each), a slice after; returns the hour's keys.</summary>
    private static List<(OplogTimestamp First, OplogTimestamp Last)> SealHour(MemoryObjectStore store)
    {
        Seal(store, T(0), T(4), null, 2);
        var run = new List<(OplogTimestamp, OplogTimestamp)>();
        var previous = T(4);
        for (uint i = 0; i < 4; i++)
        {
            var (first, last) = (T(3600 + i * 5), T(3604 + i * 5));
            Seal(store, first, last, previous, 2);
            run.Add((first, last));
            previous = last;
        }
        Seal(store, T(7200), T(7204), previous, 2);
        return run;
    }

    [Fact]
    public async Task A_compacted_slice_exactly_covering_its_run_is_preferred_at_every_step_of_its_compaction()
    {
        var store = new MemoryObjectStore();
        var run = SealHour(store);
        var scanner = new OplogRangeScanner(store, readsInFlight: 2);
        var expected = await scanner.ScanAsync("p", Repository, Ct);
        Assert.Equal([new OplogRange(T(0), T(7204))], expected);

        // Compacted data, then its index: both cover the same entries.
        Seal(store, run[0].First, run[^1].Last, T(4), 8);
        Assert.Equal(expected, await scanner.ScanAsync("p", Repository, Ct));
        // Then the originals, oldest first, index before data: every step in between reads the same.
        foreach (var (first, last) in run)
        {
            await store.DeleteAsync([OplogSliceLayout.IndexKey("p", Repository, first, last)], Ct);
            Assert.Equal(expected, await scanner.ScanAsync("p", Repository, Ct));
            await store.DeleteAsync([OplogSliceLayout.DataKey("p", Repository, first, last)], Ct);
            Assert.Equal(expected, await scanner.ScanAsync("p", Repository, Ct));
        }
        Assert.Equal(3, store.Objects.Keys.Count(k => k.EndsWith(OplogSliceLayout.IndexSuffix, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_compaction_that_replaces_listed_slices_during_the_scan_is_read_again_not_reported_as_a_gap()
    {
        var store = new MemoryObjectStore();
        var run = SealHour(store);
        var scanner = new OplogRangeScanner(store, readsInFlight: 1);
        var expected = await scanner.ScanAsync("p", Repository, Ct);
        // After the scan listed the first original: the whole compaction (cover written, every original deleted).
        bool compacted = false;
        store.AfterListed = key =>
        {
            if (!compacted && key == OplogSliceLayout.IndexKey("p", Repository, run[0].First, run[0].Last))
            {
                compacted = true;
                Seal(store, run[0].First, run[^1].Last, T(4), 8);
                foreach (var (first, last) in run)
                {
                    store.Objects.Remove(OplogSliceLayout.IndexKey("p", Repository, first, last));
                    store.Objects.Remove(OplogSliceLayout.DataKey("p", Repository, first, last));
                }
            }
        };

        Assert.Equal(expected, await scanner.ScanAsync("p", Repository, Ct));
        Assert.True(compacted);
    }

    [Fact]
    public async Task A_slice_covering_a_run_inexactly_stays_an_overlap()
    {
        // Counting other entries than its run holds.
        var store = new MemoryObjectStore();
        var run = SealHour(store);
        Seal(store, run[0].First, run[^1].Last, T(4), 7);
        await Assert.ThrowsAsync<OplogOverlapException>(() => new OplogRangeScanner(store).ScanAsync("p", Repository, Ct));

        // Linking to another slice than its run's first does.
        store = new MemoryObjectStore();
        run = SealHour(store);
        Seal(store, run[0].First, run[^1].Last, T(3), 8);
        await Assert.ThrowsAsync<OplogOverlapException>(() => new OplogRangeScanner(store).ScanAsync("p", Repository, Ct));

        // Ending inside its run's last slice.
        store = new MemoryObjectStore();
        run = SealHour(store);
        Seal(store, run[0].First, T(3617), T(4), 7);
        await Assert.ThrowsAsync<OplogOverlapException>(() => new OplogRangeScanner(store).ScanAsync("p", Repository, Ct));

        // A slice in the middle of its run missing while the oldest is still there (not a state compaction leaves).
        store = new MemoryObjectStore();
        run = SealHour(store);
        Seal(store, run[0].First, run[^1].Last, T(4), 8);
        await store.DeleteAsync([OplogSliceLayout.IndexKey("p", Repository, run[1].First, run[1].Last)], Ct);
        var e = await Assert.ThrowsAsync<OplogOverlapException>(() => new OplogRangeScanner(store).ScanAsync("p", Repository, Ct));
        Assert.Contains(OplogSliceLayout.FormatTimestamp(run[^1].Last), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_index_of_another_repository_or_range_stops_the_scan()
    {
        var store = new MemoryObjectStore();
        Seal(store, At(0, 0), At(0, 50), null);
        store.Objects[OplogSliceLayout.IndexKey("p", Repository, At(1, 0), At(1, 50))] = store.Objects[OplogSliceLayout.IndexKey("p", Repository, At(0, 0), At(0, 50))];

        await Assert.ThrowsAsync<InvalidDataException>(() => new OplogRangeScanner(store).ScanAsync("p", Repository, Ct));
    }

    [Fact]
    public async Task Only_index_objects_count_a_data_object_alone_is_no_slice()
    {
        var store = new MemoryObjectStore();
        Seal(store, At(0, 0), At(0, 50), null);
        store.Objects[OplogSliceLayout.DataKey("p", Repository, At(1, 0), At(1, 50))] = [0]; // sealing killed before its index

        Assert.Equal([new OplogRange(At(0, 0), At(0, 50))], await new OplogRangeScanner(store).ScanAsync("p", Repository, Ct));
    }

    /// <summary>Listing and reading only, in key order as S3 lists.</summary>
    internal sealed class MemoryObjectStore : IObjectStore
    {
        public SortedDictionary<string, byte[]> Objects { get; } = new(StringComparer.Ordinal);

        /// <summary>Runs after each listed key is handed out: what another process does while a listing is under way.</summary>
        public Action<string>? AfterListed { get; set; }

        public Task<byte[]> GetAsync(string key, ObjectChecksum? expected, CancellationToken cancellationToken) =>
            Objects.TryGetValue(key, out var bytes) ? Task.FromResult(bytes) : throw new ObjectNotFoundException(key);

        public async IAsyncEnumerable<ObjectListing> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            foreach (var (key, bytes) in Objects.Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal)).ToList())
            {
                await Task.Yield();
                yield return new ObjectListing(key, bytes.Length, DateTimeOffset.UnixEpoch);
                AfterListed?.Invoke(key);
            }
        }

        public Task<StoredObject> PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
        {
            Objects[key] = content.ToArray();
            return Task.FromResult(new StoredObject(key, content.Length, ObjectChecksum.Of(content.Span)));
        }

        public Task<StoredObject> UploadAsync(string key, Stream content, long? expectedSize, CancellationToken cancellationToken) => throw new NotSupportedException("not used by these tests");

        public Task<Stream> OpenReadAsync(string key, ObjectChecksum expected, CancellationToken cancellationToken) => throw new NotSupportedException("not used by these tests");

        public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
        {
            foreach (string key in keys)
            {
                Objects.Remove(key);
            }
            return Task.CompletedTask;
        }
    }
}
