using Polly;
using WapBackup.Ddt.Retention;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Logging;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Recovery;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Compaction;

/// <summary>
/// Which slices are compacted: those whose last entry is at least <paramref name="OlderThan"/> old, into slices of at most
/// <paramref name="MaxSliceBytes"/> uncompressed (readers hold one slice in memory: a busy hour becomes several).
/// </summary>
public sealed record CompactionOptions(TimeSpan OlderThan, long MaxSliceBytes)
{
    public static CompactionOptions Default { get; } = new(TimeSpan.FromHours(1), 64L * 1024 * 1024);

    /// <summary>Slices are grouped by the UTC hour of their first ts: a compacted slice never spans two hours' starts.</summary>
    public static readonly TimeSpan Hour = TimeSpan.FromHours(1);

    public CompactionOptions Validate()
    {
        if (OlderThan < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(OlderThan), OlderThan, "olderThan must not be negative");
        }
        if (MaxSliceBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxSliceBytes), MaxSliceBytes, "maxSliceBytes must be positive");
        }
        return this;
    }
}

/// <summary>
/// What one compaction did (or, dry run, would do). <paramref name="SlicesRead"/>: originals read into compacted slices;
/// <paramref name="SlicesWritten"/>: compacted slices written; <paramref name="ObjectsDeleted"/> and <paramref name="BytesDeleted"/>:
/// originals' index and data objects (and leftovers of a killed compaction) deleted; <paramref name="BytesRead"/>: compressed
/// bytes of the originals; <paramref name="BytesWritten"/>: compressed bytes of the compacted slices;
/// <paramref name="Finished"/>: compacted slices an earlier, interrupted run had written whose originals were deleted now.
/// </summary>
public sealed record CompactionCounts(int SlicesRead, int SlicesWritten, int ObjectsDeleted, long BytesRead, long BytesWritten, long BytesDeleted, int Finished)
{
    public static CompactionCounts None { get; } = new(0, 0, 0, 0, 0, 0, 0);
}

/// <summary>
/// Compacts a repository's sealed slices (decision 0602): each linked run of slices older than
/// <see cref="CompactionOptions.OlderThan"/> that start in one UTC hour becomes one slice. Per run, in this order (crash
/// safe, every step readable through <see cref="OplogSliceCovers"/>): the compacted data, its index, read back and
/// verified like any slice, then the originals deleted oldest first, index before data. A run killed halfway is
/// finished by the next compaction: a compacted slice still beside originals it exactly covers is verified and its
/// originals deleted; a data object without an index is rewritten with the same bytes. It never touches the newest
/// slice (the chain's end the sealer continues), never crosses a broken link and never compacts a run of one.
/// Every object-storage step is retried (<paramref name="retry"/>); a step that keeps failing fails the compaction.
/// </summary>
public sealed class SliceCompactor(IObjectStore objects, string? prefix, string repositoryId, TimeProvider time, CompactionOptions options, ResiliencePipeline retry, JsonLineLogger log)
{
    private readonly OplogSliceStore _slices = new(objects, prefix ?? "", repositoryId);

    public async Task<CompactionCounts> RunAsync(bool dryRun, CancellationToken cancellationToken)
    {
        options.Validate();
        var listed = await retry.ExecuteAsync(async ct => await SliceObjects.ListAsync(objects, prefix, repositoryId, [], ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        var indexed = listed.Where(s => s.Index is not null).ToList();
        if (indexed.Count < 2)
        {
            return CompactionCounts.None;
        }
        var newest = indexed.Max(s => s.Last);
        long cutoff = time.GetUtcNow().ToUnixTimeSeconds() - (long)options.OlderThan.TotalSeconds;
        var counts = CompactionCounts.None;
        var eligible = listed.Where(s => s.Last < newest && s.Last.Seconds <= cutoff);
        foreach (var hour in eligible.GroupBy(s => s.First.Seconds / (uint)CompactionOptions.Hour.TotalSeconds))
        {
            var group = hour.Where(s => s.Index is not null).ToList();
            var holders = group.Select(s => (s.First, s.Last)).ToList();
            if (group.Count >= 2)
            {
                var slices = new List<OplogSlice>(group.Count);
                foreach (var s in group)
                {
                    slices.Add(await retry.ExecuteAsync(async ct => await _slices.SliceAsync(s.Index!.Key, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false));
                }
                counts = await FinishAsync(slices, listed, dryRun, counts, cancellationToken).ConfigureAwait(false);
                foreach (var run in Runs(slices))
                {
                    (counts, var cover) = await CompactAsync(run, listed, dryRun, counts, cancellationToken).ConfigureAwait(false);
                    if (cover is not null)
                    {
                        holders.Add((cover.Index.FirstTs, cover.Index.LastTs));
                    }
                }
            }
            // A data object without index inside a slice is no slice and holds nothing that slice does not (a compaction killed
            // between an original's index and data, or an older attempt's data): it goes.
            foreach (var data in hour.Where(o => o.Index is null && o.Data is not null && holders.Any(h => Inside(o.First, o.Last, h.First, h.Last))).Select(o => o.Data!))
            {
                if (!dryRun)
                {
                    await retry.ExecuteAsync(async ct => await objects.DeleteAsync([data.Key], ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
                }
                counts = counts with { ObjectsDeleted = counts.ObjectsDeleted + 1, BytesDeleted = counts.BytesDeleted + data.Size };
            }
        }
        return counts;
    }

    /// <summary>
    /// Compacted slices an interrupted run left beside (some of) their originals: verified, then the originals go, oldest
    /// first. Removes the originals from <paramref name="slices"/>.
    /// </summary>
    private async Task<CompactionCounts> FinishAsync(List<OplogSlice> slices, IReadOnlyList<SliceObjects> listed, bool dryRun, CompactionCounts counts, CancellationToken cancellationToken)
    {
        foreach (var cover in slices.ToList())
        {
            var covered = slices.Where(s => s != cover && Inside(s.Index.FirstTs, s.Index.LastTs, cover.Index.FirstTs, cover.Index.LastTs)).ToList();
            if (covered.Count == 0 || !slices.Contains(cover))
            {
                continue;
            }
            RequireExactCover(cover, covered);
            log.Info($"repository {repositoryId}: compacted slice {cover.IndexKey} is still beside {covered.Count} original(s) it covers (an interrupted compaction): {(dryRun ? "would finish it" : "finishing it")}");
            if (!dryRun)
            {
                await VerifyAsync(cover, cancellationToken).ConfigureAwait(false);
                counts = await DeleteAsync(covered, listed, counts, cancellationToken).ConfigureAwait(false);
            }
            counts = counts with { Finished = counts.Finished + 1 };
            slices.RemoveAll(covered.Contains);
        }
        return counts;
    }

    /// <summary>Maximal linked runs of at least two slices, each at most <see cref="CompactionOptions.MaxSliceBytes"/> uncompressed.</summary>
    private IEnumerable<List<OplogSlice>> Runs(List<OplogSlice> slices)
    {
        var run = new List<OplogSlice>();
        long bytes = 0;
        foreach (var slice in slices)
        {
            bool continues = run.Count > 0 && slice.Index.PreviousLastTs == run[^1].Index.LastTs && bytes + slice.Index.Uncompressed.Size <= options.MaxSliceBytes;
            if (!continues)
            {
                if (run.Count >= 2)
                {
                    yield return run;
                }
                run = [];
                bytes = 0;
            }
            run.Add(slice);
            bytes += slice.Index.Uncompressed.Size;
        }
        if (run.Count >= 2)
        {
            yield return run;
        }
    }

    /// <summary>One run: compacted data, index, read back and verified, then the originals deleted. Returns the compacted slice (null on a dry run).</summary>
    private async Task<(CompactionCounts, OplogSlice?)> CompactAsync(List<OplogSlice> run, IReadOnlyList<SliceObjects> listed, bool dryRun, CompactionCounts counts, CancellationToken cancellationToken)
    {
        long read = run.Sum(s => s.Index.Compressed.Size);
        counts = counts with { SlicesRead = counts.SlicesRead + run.Count, BytesRead = counts.BytesRead + read, SlicesWritten = counts.SlicesWritten + 1 };
        string range = $"{run[0].Index.FirstTs}..{run[^1].Index.LastTs}";
        if (dryRun)
        {
            log.Info($"repository {repositoryId}: would compact {run.Count} slices {range} ({read} bytes)");
            return (counts, null);
        }
        // Retried whole: the same run writes the same bytes, so a retry overwrites a half-done attempt.
        var written = await retry.ExecuteAsync(async ct => await _slices.WriteCompactedAsync(run, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        var cover = await retry.ExecuteAsync(async ct => await _slices.SliceAsync(written.IndexKey, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        RequireExactCover(cover, run);
        await VerifyAsync(cover, cancellationToken).ConfigureAwait(false);
        counts = counts with { BytesWritten = counts.BytesWritten + cover.Index.Compressed.Size };
        counts = await DeleteAsync(run, listed, counts, cancellationToken).ConfigureAwait(false);
        log.Info($"repository {repositoryId}: compacted {run.Count} slices {range} into {cover.IndexKey} ({read} -> {cover.Index.Compressed.Size} bytes)");
        return (counts, cover);
    }

    /// <summary>Reads the compacted slice back through the normal reader: checksums, sizes, entry count, first and last ts.</summary>
    private async Task VerifyAsync(OplogSlice cover, CancellationToken cancellationToken) =>
        await retry.ExecuteAsync(async ct => await _slices.ReadAsync(cover, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);

    /// <summary>Oldest first, each slice's index before its data: a crash leaves the compacted slice beside a linked suffix of its run, which reads the same.</summary>
    private async Task<CompactionCounts> DeleteAsync(IReadOnlyList<OplogSlice> originals, IReadOnlyList<SliceObjects> listed, CompactionCounts counts, CancellationToken cancellationToken)
    {
        foreach (var original in originals)
        {
            var objectsOf = listed.FirstOrDefault(o => o.Index?.Key == original.IndexKey);
            string dataKey = OplogSliceLayout.DataKeyOf(original.IndexKey);
            foreach (var (key, size) in new[] { (original.IndexKey, objectsOf?.Index?.Size ?? 0), (dataKey, objectsOf?.Data?.Size ?? 0) })
            {
                await retry.ExecuteAsync(async ct => await objects.DeleteAsync([key], ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
                counts = counts with { ObjectsDeleted = counts.ObjectsDeleted + 1, BytesDeleted = counts.BytesDeleted + size };
            }
        }
        return counts;
    }

    /// <summary>The readers' rule, applied before anything is deleted: the cover must stand for exactly these slices.</summary>
    private static void RequireExactCover(OplogSlice cover, IReadOnlyList<OplogSlice> covered)
    {
        var rule = new OplogSliceCovers();
        var seen = new List<string>();
        foreach (var slice in covered.Append(cover).OrderBy(s => s.Index.FirstTs).ThenBy(s => s.Index.LastTs))
        {
            if (rule.Add(slice.IndexKey, slice.Index) is { } ready)
            {
                seen.Add(ready.Key);
            }
        }
        if (rule.Complete() is { } last)
        {
            seen.Add(last.Key);
        }
        if (seen.Count != 1 || seen[0] != cover.IndexKey)
        {
            throw new OplogOverlapException($"compacted slice {cover.IndexKey} does not stand for the {covered.Count} slice(s) inside it; nothing is deleted");
        }
    }

    /// <summary>first..last lies within holderFirst..holderLast and is not that range itself.</summary>
    private static bool Inside(OplogTimestamp first, OplogTimestamp last, OplogTimestamp holderFirst, OplogTimestamp holderLast) =>
        holderFirst <= first && last <= holderLast && (first, last) != (holderFirst, holderLast);
}
