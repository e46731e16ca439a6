using System.Runtime.CompilerServices;
using WapBackup.Ddt.Capture;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Storage;

namespace WapBackup.Ddt.Restore.Replay;

/// <summary>
/// The captured entries of (after, through] for a restore: from the repository's 57019 store when it
/// holds the whole range, else from the object-storage slices (one slice in memory at a time). The range
/// is proven held in <see cref="OpenAsync"/>, before the caller writes anything: a hole throws an
/// <see cref="OplogChainException"/> naming the timestamps on both sides.
/// </summary>
public sealed class RestoreOplogSource
{
    private readonly CapturedOplogStore? _store;
    private readonly OplogSliceStore _slices;

    /// <param name="store">The 57019 store; null when it is gone (then only slices are read).</param>
    public RestoreOplogSource(CapturedOplogStore? store, OplogSliceStore slices)
    {
        _store = store;
        _slices = slices;
    }

    /// <summary>Checks that (after, through] is held by the chosen source and returns the range to read.</summary>
    public async Task<RestoreOplogRange> OpenAsync(OplogTimestamp after, OplogTimestamp through, ReplaySource source, CancellationToken cancellationToken)
    {
        if (through < after)
        {
            throw new ArgumentOutOfRangeException(nameof(through), through, $"the replay range ({after}, {through}] ends before it starts");
        }
        if (through == after)
        {
            return new RestoreOplogRange(ReplaySource.Store, after, through, _ => Empty());
        }
        if (source != ReplaySource.Slices)
        {
            var refusal = await StoreRefusalAsync(after, through, cancellationToken).ConfigureAwait(false);
            if (refusal is null)
            {
                return new RestoreOplogRange(ReplaySource.Store, after, through, ct => _store!.ReadAsync(after, through, ct));
            }
            if (source == ReplaySource.Store)
            {
                throw refusal;
            }
        }
        // ListChainAsync proves from..to held; `after` itself is not replayed, but its slice (or the link
        // to the slice ending before it) is what shows nothing between is missing.
        var chain = await _slices.ListChainAsync(after, through, cancellationToken).ConfigureAwait(false);
        return new RestoreOplogRange(ReplaySource.Slices, after, through, ct => ReadSlicesAsync(chain, after, through, ct));
    }

    /// <summary>Why the store cannot serve (after, through], or null when it holds all of it.</summary>
    private async Task<OplogChainException?> StoreRefusalAsync(OplogTimestamp after, OplogTimestamp through, CancellationToken cancellationToken)
    {
        if (_store is null)
        {
            return new OplogChainException(OplogChainFault.Hole, after, through, $"no 57019 store to read ({after}, {through}] from");
        }
        var first = await _store.FirstAsync(cancellationToken).ConfigureAwait(false);
        var last = await _store.LastAsync(cancellationToken).ConfigureAwait(false);
        if (first is null || last is null)
        {
            return new OplogChainException(OplogChainFault.Hole, after, through, $"the 57019 store is empty: it holds nothing of ({after}, {through}]");
        }
        var timelineStartsAfter = await _store.TimelineStartsAfterAsync(cancellationToken).ConfigureAwait(false);
        // Held from `after` on: an entry at or before it is stored, or the store's timeline was
        // reloaded to start right there or before (then everything after it is stored).
        bool heldFromAfter = first.Value.Ts <= after || (timelineStartsAfter != OplogTimestamp.Zero && timelineStartsAfter <= after);
        if (!heldFromAfter || timelineStartsAfter > after)
        {
            return new OplogChainException(OplogChainFault.Hole, after, first.Value.Ts,
                $"the 57019 store starts at {first.Value.Ts} (timeline after {timelineStartsAfter}), after the replay start {after}: entries after {after} before {first.Value.Ts} are not in it");
        }
        if (last.Value.Ts < through)
        {
            return new OplogChainException(OplogChainFault.Hole, last.Value.Ts, through,
                $"the 57019 store ends at {last.Value.Ts}, before the replay end {through}: entries after {last.Value.Ts} through {through} are not in it");
        }
        return null;
    }

    /// <summary>How often one read re-lists its chain because listed slices were replaced meanwhile.</summary>
    private const int MaxRelists = 8;

    private async IAsyncEnumerable<CapturedEntry> ReadSlicesAsync(
        IReadOnlyList<OplogSlice> chain, OplogTimestamp after, OplogTimestamp through, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // The newest ts handed out: a re-listed chain resumes right after it.
        var done = after;
        int relists = 0;
        for (int i = 0; i < chain.Count; i++)
        {
            // One slice's bytes at a time; entries are views into them, so the array lives until replayed.
            var bytes = await ReadOrNullAsync(chain[i], cancellationToken).ConfigureAwait(false);
            if (bytes is null)
            {
                // The agent's compaction (decision 0602) replaced listed slices by one that covers them exactly: list the
                // rest of the range again, proven gap-free as before (a real hole fails here, loudly), and go on after `done`.
                if (++relists > MaxRelists)
                {
                    throw new InvalidOperationException($"oplog slices of ({after}, {through}] kept disappearing while read ({MaxRelists} re-listings); rerun the restore");
                }
                chain = await _slices.ListChainAsync(done, through, cancellationToken).ConfigureAwait(false);
                i = -1;
                continue;
            }
            foreach (var document in BsonDocumentSplitter.Split(bytes))
            {
                var ts = new OplogEntry(document).Timestamp
                    ?? throw new InvalidDataException($"oplog slice {chain[i].IndexKey}: an entry has no ts");
                if (ts <= done)
                {
                    continue;
                }
                if (ts > through)
                {
                    yield break;
                }
                done = ts;
                yield return new CapturedEntry(ts, document);
            }
        }
    }

    /// <summary>The slice's entries, or null when its data object is gone (replaced by a compaction since it was listed).</summary>
    private async Task<byte[]?> ReadOrNullAsync(OplogSlice slice, CancellationToken cancellationToken)
    {
        try
        {
            return await _slices.ReadAsync(slice, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            return null;
        }
    }

    private static async IAsyncEnumerable<CapturedEntry> Empty()
    {
        await Task.CompletedTask.ConfigureAwait(false);
        yield break;
    }
}

/// <summary>A range (after, through] proven held by <see cref="Source"/>; read it once, in ts order.</summary>
public sealed class RestoreOplogRange
{
    private readonly Func<CancellationToken, IAsyncEnumerable<CapturedEntry>> _read;

    internal RestoreOplogRange(ReplaySource source, OplogTimestamp after, OplogTimestamp through, Func<CancellationToken, IAsyncEnumerable<CapturedEntry>> read)
    {
        Source = source;
        After = after;
        Through = through;
        _read = read;
    }

    /// <summary><see cref="ReplaySource.Store"/> or <see cref="ReplaySource.Slices"/>: what is read.</summary>
    public ReplaySource Source { get; }

    public OplogTimestamp After { get; }

    public OplogTimestamp Through { get; }

    public IAsyncEnumerable<CapturedEntry> ReadAsync(CancellationToken cancellationToken) => _read(cancellationToken);
}
