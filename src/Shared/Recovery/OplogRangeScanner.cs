using WapBackup.Shared.Oplog;
using WapBackup.Shared.Retention;
using WapBackup.Shared.Storage;

namespace WapBackup.Shared.Recovery;

/// <summary>Two sealed slices hold the same entries (a twice-sealed or foreign slice): the oplog in object storage is inconsistent.</summary>
public sealed class OplogOverlapException : Exception
{
    public OplogOverlapException(string message) : base(message)
    {
    }

    /// <param name="first">The first ts held twice.</param>
    /// <param name="last">The last ts held twice.</param>
    public OplogOverlapException(string message, OplogTimestamp first, OplogTimestamp last) : base(message)
    {
        First = first;
        Last = last;
    }

    public OplogTimestamp? First { get; }

    public OplogTimestamp? Last { get; }
}

/// <summary>
/// The gap-free oplog ranges of a repository's sealed slices in object storage. One listing of the oplog
/// folder, streamed in key order (= ts order, <see cref="OplogSliceLayout"/>); each index is read (a bounded
/// number at a time) for its chain link: a slice whose <c>previousLastTs</c> is the last ts of the slice
/// before it continues that range (decision 0403), any other slice starts a new one, so a pruned or lost
/// slice shows as a gap. A compacted slice that exactly covers a run of linked slices stands for the run
/// (<see cref="OplogSliceCovers"/>, decision 0602); any other two slices holding the same ts are refused with
/// <see cref="OplogOverlapException"/>. Memory is the ranges found plus the reads in flight, never the listing.
/// </summary>
public sealed class OplogRangeScanner(IObjectStore store, int readsInFlight = OplogRangeScanner.DefaultReadsInFlight)
{
    public const int DefaultReadsInFlight = 16;

    public Task<IReadOnlyList<OplogRange>> ScanAsync(string? prefix, string repositoryId, CancellationToken cancellationToken) =>
        SliceListing.ListAgainWhileVanishingAsync(ct => ScanOnceAsync(prefix, repositoryId, ct), cancellationToken);

    private async Task<IReadOnlyList<OplogRange>> ScanOnceAsync(string? prefix, string repositoryId, CancellationToken cancellationToken)
    {
        string folder = OplogSliceLayout.OplogFolder(prefix ?? "", repositoryId);
        var ranges = new List<OplogRange>();
        OplogSliceIndex? previous = null;
        string? previousKey = null;
        var covers = new OplogSliceCovers();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var pending = new Queue<(string Key, Task<OplogSliceIndex> Index)>();
        async Task TakeAsync()
        {
            var (key, read) = pending.Dequeue();
            if (covers.Add(key, await read.ConfigureAwait(false)) is { } ready)
            {
                (previous, previousKey) = Link(ranges, previous, previousKey, ready.Key, ready.Index);
            }
        }
        try
        {
            await foreach (var item in store.ListAsync(folder, cancellationToken).ConfigureAwait(false))
            {
                if (!item.Key.EndsWith(OplogSliceLayout.IndexSuffix, StringComparison.Ordinal) || !OplogSliceLayout.TryParseRange(item.Key, out _, out _))
                {
                    continue; // data objects, and anything that is no slice (a slice without its index does not exist)
                }
                pending.Enqueue((item.Key, OplogSliceIndex.ReadAsync(store, item.Key, repositoryId, stop.Token)));
                if (pending.Count >= Math.Max(1, readsInFlight))
                {
                    await TakeAsync().ConfigureAwait(false);
                }
            }
            while (pending.Count > 0)
            {
                await TakeAsync().ConfigureAwait(false);
            }
            if (covers.Complete() is { } last)
            {
                (previous, previousKey) = Link(ranges, previous, previousKey, last.Key, last.Index);
            }
        }
        finally
        {
            if (pending.Count > 0)
            {
                await stop.CancelAsync().ConfigureAwait(false);
                foreach (var (_, index) in pending)
                {
                    try
                    {
                        await index.ConfigureAwait(false);
                    }
                    catch (Exception)
                    {
                        // Already failing or cancelled: the first error is the one thrown.
                    }
                }
            }
        }
        return ranges;
    }

    private static (OplogSliceIndex, string) Link(List<OplogRange> ranges, OplogSliceIndex? previous, string? previousKey, string key, OplogSliceIndex index)
    {
        if (previous is null)
        {
            ranges.Add(new OplogRange(index.FirstTs, index.LastTs));
        }
        else if (index.FirstTs <= previous.LastTs)
        {
            throw new OplogOverlapException(
                $"oplog slices {previousKey} ({previous.FirstTs}..{previous.LastTs}) and {key} ({index.FirstTs}..{index.LastTs}) overlap: object storage holds {index.FirstTs} twice; the recovery window cannot be known until one is removed");
        }
        else if (index.PreviousLastTs == previous.LastTs)
        {
            ranges[^1] = ranges[^1] with { Last = index.LastTs };
        }
        else
        {
            ranges.Add(new OplogRange(index.FirstTs, index.LastTs));
        }
        return (index, key);
    }
}
