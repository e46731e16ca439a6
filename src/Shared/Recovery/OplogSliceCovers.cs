using WapBackup.Shared.Oplog;
using WapBackup.Shared.Storage;

namespace WapBackup.Shared.Recovery;

/// <summary>
/// The exact-cover rule (decision 0602) both slice readers apply: a compacted slice C that holds the same entries
/// as a run of linked slices is preferred over the run, so every state of a compaction (originals only, C beside
/// all of them, C beside the newer ones after the oldest were deleted, C alone) reads as the same chain.
/// C exactly covers a run when the run is linked, ends at C's last ts and either
/// <list type="bullet">
/// <item>starts at C's first ts with C's <c>previousLastTs</c> and counts C's entries (nothing deleted yet), or</item>
/// <item>starts after C's first ts linking to a ts inside C and counts fewer entries (its oldest slices already deleted).</item>
/// </list>
/// Any other overlap is an <see cref="OplogOverlapException"/>. Feed slices in key order (first ts, then last ts):
/// C sorts right after the run's first slice (same first ts, later last ts) and before the rest, so cover and run
/// meet in one pass; memory is one held slice and the cover being matched, never the run.
/// </summary>
public sealed class OplogSliceCovers
{
    private (string Key, OplogSliceIndex Index)? _held;
    private (string Key, OplogSliceIndex Index)? _cover;
    private OplogTimestamp _runLast;
    private long _runCount;
    private bool _runFull;
    private string _runStart = "";

    /// <summary>Adds the next slice in key order; returns the slice now known not to be covered (at most one), in order.</summary>
    public (string Key, OplogSliceIndex Index)? Add(string key, OplogSliceIndex index)
    {
        ArgumentNullException.ThrowIfNull(index);
        if (_cover is { } cover)
        {
            var c = cover.Index;
            if (index.FirstTs > c.LastTs || index.PreviousLastTs != _runLast || index.LastTs > c.LastTs)
            {
                throw NotExact(cover.Key, c, $"the slices inside it are linked only through {_runLast}, then {key} ({index.FirstTs}..{index.LastTs}) follows");
            }
            _runLast = index.LastTs;
            _runCount += index.Count;
            if (_runLast == c.LastTs)
            {
                Complete(cover);
            }
            return null;
        }
        if (_held is not { } held)
        {
            _held = (key, index);
            return null;
        }
        var h = held.Index;
        if (index.FirstTs > h.LastTs)
        {
            _held = (key, index);
            return held;
        }
        if (index.FirstTs == h.FirstTs && index.LastTs > h.LastTs && index.PreviousLastTs == h.PreviousLastTs)
        {
            // index may be a compacted slice whose run starts with the held slice.
            Start((key, index), held.Key, h.LastTs, h.Count, full: true);
            return null;
        }
        if (index.FirstTs > h.FirstTs && index.LastTs <= h.LastTs && index.PreviousLastTs is { } link && link >= h.FirstTs && link < h.LastTs)
        {
            // The held slice may be a compacted one whose oldest originals are already deleted: the rest follow it.
            Start(held, key, index.LastTs, index.Count, full: false);
            if (index.LastTs == h.LastTs)
            {
                Complete(held);
            }
            return null;
        }
        throw new OplogOverlapException(
            $"oplog slices {held.Key} ({h.FirstTs}..{h.LastTs}) and {key} ({index.FirstTs}..{index.LastTs}) overlap and neither exactly covers a run of the other's: object storage holds {index.FirstTs} twice",
            index.FirstTs, Min(h.LastTs, index.LastTs));
    }

    /// <summary>Ends the input: returns the last slice held, or throws when a cover's run did not reach its end.</summary>
    public (string Key, OplogSliceIndex Index)? Complete()
    {
        if (_cover is { } cover)
        {
            throw NotExact(cover.Key, cover.Index, $"the slices inside it end at {_runLast}");
        }
        var last = _held;
        _held = null;
        return last;
    }

    /// <summary>True while a possible cover waits for the rest of its run: a reader that stops early must go on feeding.</summary>
    public bool MatchingCover => _cover is not null;

    private void Start((string Key, OplogSliceIndex Index) cover, string runStart, OplogTimestamp runLast, long runCount, bool full)
    {
        _cover = cover;
        _runStart = runStart;
        _held = null;
        _runLast = runLast;
        _runCount = runCount;
        _runFull = full;
    }

    private void Complete((string Key, OplogSliceIndex Index) cover)
    {
        bool counts = _runFull ? _runCount == cover.Index.Count : _runCount < cover.Index.Count;
        if (!counts)
        {
            throw NotExact(cover.Key, cover.Index, $"the linked slices inside it hold {_runCount} entries, it holds {cover.Index.Count}");
        }
        _cover = null;
        _held = cover;
    }

    private OplogOverlapException NotExact(string key, OplogSliceIndex cover, string why) =>
        new($"oplog slice {key} ({cover.FirstTs}..{cover.LastTs}) overlaps other slices but does not exactly cover a linked run of them (from {_runStart}): {why}; object storage holds {cover.FirstTs}..{Min(_runLast, cover.LastTs)} twice",
            cover.FirstTs, Min(_runLast, cover.LastTs));

    private static OplogTimestamp Min(OplogTimestamp a, OplogTimestamp b) => a <= b ? a : b;
}
