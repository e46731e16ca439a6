using System.Net.Http;
using Amazon.Runtime;
using WapBackup.Ddt.Storage;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Capture;

/// <summary>Where a capture started.</summary>
public enum CaptureStartKind
{
    /// <summary>No store and no slices: a new timeline at the source's newest entry.</summary>
    NewTimeline,

    /// <summary>From the store's checkpoint, which continues the slices (or none are sealed yet).</summary>
    Resume,

    /// <summary>From the store's checkpoint without checking it against the slices: object storage did not answer (the sealer checks before its first seal).</summary>
    ResumeWithoutSlices,

    /// <summary>The store was empty or behind the newest slice: refilled from the slices, resumed after the newest one.</summary>
    ReloadedFromSlices,
}

/// <summary>How a capture started: the checkpoint it tails from (null: the source's newest entry) and what was reloaded.</summary>
public sealed record CaptureStartResult(CaptureStartKind Kind, CapturedEntry? Checkpoint, long EntriesReloaded, OplogTimestamp? NewestSlice);

/// <summary>
/// Decides where capture starts so that the repository's timeline never restarts silently. The
/// newest sealed slice is the end of the timeline in object storage: a store that is empty or
/// behind it (new or replaced host, wiped store, changed mongoHost) is refilled from the slices'
/// chain, slice by slice, and capture resumes after the newest slice, whose last entry becomes the
/// checkpoint the tail verifies byte for byte against the source. A store at or past it must hold
/// that entry with the same bytes. Anything else is a <see cref="CaptureGapException"/>.
/// </summary>
public sealed class CaptureStart
{
    private const long ReloadBatchBytes = 8 * 1024 * 1024;

    private readonly SourceOplog _source;
    private readonly CapturedOplogStore _store;
    private readonly OplogSliceStore _slices;

    public CaptureStart(SourceOplog source, CapturedOplogStore store, OplogSliceStore slices)
    {
        _source = source;
        _store = store;
        _slices = slices;
    }

    public async Task<CaptureStartResult> PrepareAsync(CancellationToken cancellationToken)
    {
        var checkpoint = await _store.LastAsync(cancellationToken).ConfigureAwait(false);
        OplogSlice? newest;
        try
        {
            newest = await _slices.NewestAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnavailable(e, cancellationToken))
        {
            if (checkpoint is null)
            {
                // Nothing to continue from here, and no way to know whether slices exist: never a blind new timeline.
                throw new ObjectStorageUnavailableException(
                    $"object storage does not answer ({e.GetType().Name}: {e.Message}) and the 57019 store holds no checkpoint: capture cannot tell whether the repository's timeline exists to continue", e);
            }
            // The store holds a verified continuation point; the slices are checked once storage answers.
            return new(CaptureStartKind.ResumeWithoutSlices, checkpoint, 0, null);
        }
        if (newest is null)
        {
            if (checkpoint is null)
            {
                // Nothing captured anywhere: a new timeline from its beginning (clears a stale start).
                await _store.SetTimelineStartsAfterAsync(OplogTimestamp.Zero, cancellationToken).ConfigureAwait(false);
                return new(CaptureStartKind.NewTimeline, null, 0, null);
            }
            return new(CaptureStartKind.Resume, checkpoint, 0, null);
        }
        var end = newest.Index.LastTs;
        if (checkpoint is { } stored && stored.Ts >= end)
        {
            await VerifyStoreContinuesAsync(newest, cancellationToken).ConfigureAwait(false);
            return new(CaptureStartKind.Resume, checkpoint, 0, end);
        }
        if (await _source.OldestAsync(cancellationToken).ConfigureAwait(false) is { } oldest && oldest > end)
        {
            // Checked before reloading (the tail checks again, byte for byte): no point refilling a dead timeline.
            throw new CaptureGapException(GapKind.Rollover, end,
                $"oplog gap: the newest sealed slice ends at {end}, but the source's oldest entry is {oldest} (rolled over while capture was down). A new full copy is needed.");
        }
        long reloaded = await ReloadAsync(checkpoint, end, cancellationToken).ConfigureAwait(false);
        var resumeAt = await _store.LastAsync(cancellationToken).ConfigureAwait(false);
        if (resumeAt?.Ts != end)
        {
            throw new InvalidOperationException($"the store's newest entry after reloading is {resumeAt?.Ts.ToString() ?? "none"}, not the newest slice's last entry {end}");
        }
        return new(CaptureStartKind.ReloadedFromSlices, resumeAt, reloaded, end);
    }

    /// <summary>A store at or past the newest slice continues it only if it holds the slice's last entry, byte for byte.</summary>
    private async Task VerifyStoreContinuesAsync(OplogSlice newest, CancellationToken cancellationToken)
    {
        var end = newest.Index.LastTs;
        var startsAfter = await _store.TimelineStartsAfterAsync(cancellationToken).ConfigureAwait(false);
        var held = startsAfter < end ? await _store.EntryAtAsync(end, cancellationToken).ConfigureAwait(false) : null;
        var entries = await _slices.ReadAsync(newest, cancellationToken).ConfigureAwait(false);
        ReadOnlyMemory<byte> sealedLast = default;
        foreach (var entry in BsonDocumentSplitter.Split(entries))
        {
            sealedLast = entry;
        }
        if (held is null)
        {
            var first = await _store.FirstAsync(cancellationToken).ConfigureAwait(false);
            throw new CaptureGapException(GapKind.BrokenTimeline, end,
                $"the 57019 store does not continue the sealed slices: the newest slice ends at {end}, the store's timeline starts after {startsAfter} with its oldest entry {first?.Ts.ToString() ?? "none"} and does not hold {end}, so the entries between are in neither. A new full copy is needed.");
        }
        if (!held.Value.Bytes.Span.SequenceEqual(sealedLast.Span))
        {
            throw new CaptureGapException(GapKind.BrokenTimeline, end,
                $"the 57019 store's entry at {end} differs from the newest sealed slice's last entry: the store and the slices are different timelines. A new full copy is needed.");
        }
    }

    /// <summary>
    /// Appends the slices' entries after the store's checkpoint (all of the chain when the store is
    /// empty), one slice in memory at a time. The checkpoint must be an entry of the chain, byte for byte,
    /// or the very ts the chain's first slice continues.
    /// </summary>
    private async Task<long> ReloadAsync(CapturedEntry? checkpoint, OplogTimestamp end, CancellationToken cancellationToken)
    {
        IReadOnlyList<OplogSlice> chain;
        try
        {
            if (checkpoint is { } c)
            {
                chain = await _slices.ListChainAsync(c.Ts, end, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var oldest = (await _slices.OldestAsync(cancellationToken).ConfigureAwait(false))!;
                chain = await _slices.ListChainAsync(oldest.Index.FirstTs, end, cancellationToken).ConfigureAwait(false);
                // Before anything is stored: a crash mid-reload leaves a store that is behind, which the next start continues.
                await _store.SetTimelineStartsAfterAsync(chain[0].Index.PreviousLastTs ?? OplogTimestamp.Zero, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OplogChainException e)
        {
            throw new CaptureGapException(GapKind.BrokenTimeline, e.From,
                $"the store cannot be refilled from the sealed slices: {e.Message}. A new full copy is needed.", e);
        }
        bool checkpointFound = checkpoint is null || chain[0].Index.PreviousLastTs == checkpoint.Value.Ts;
        long reloaded = 0;
        var batch = new List<byte[]>();
        long batchBytes = 0;
        foreach (var slice in chain)
        {
            var entries = await _slices.ReadAsync(slice, cancellationToken).ConfigureAwait(false);
            foreach (var entry in BsonDocumentSplitter.Split(entries))
            {
                var ts = new OplogEntry(entry).Timestamp!.Value; // the slice reader verified every ts
                if (checkpoint is { } c && ts <= c.Ts)
                {
                    if (ts == c.Ts)
                    {
                        if (!entry.Span.SequenceEqual(c.Bytes.Span))
                        {
                            throw new CaptureGapException(GapKind.BrokenTimeline, c.Ts,
                                $"the 57019 store's newest entry {c.Ts} differs from the sealed slice's entry at that ts: the store and the slices are different timelines. A new full copy is needed.");
                        }
                        checkpointFound = true;
                    }
                    continue;
                }
                if (!checkpointFound)
                {
                    throw new CaptureGapException(GapKind.BrokenTimeline, checkpoint!.Value.Ts,
                        $"the 57019 store's newest entry {checkpoint.Value.Ts} is not in the sealed slices' chain, which continues at {ts}: the store and the slices are different timelines. A new full copy is needed.");
                }
                batch.Add(entry.ToArray());
                batchBytes += entry.Length;
                if (batchBytes >= ReloadBatchBytes)
                {
                    await _store.AppendAsync(batch, cancellationToken).ConfigureAwait(false);
                    reloaded += batch.Count;
                    batch.Clear();
                    batchBytes = 0;
                }
            }
        }
        await _store.AppendAsync(batch, cancellationToken).ConfigureAwait(false);
        return reloaded + batch.Count;
    }

    /// <summary>Object storage did not answer (as opposed to answering with something wrong).</summary>
    private static bool IsUnavailable(Exception e, CancellationToken cancellationToken) =>
        e is AmazonServiceException or AmazonClientException or HttpRequestException
        || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested); // SDK timeouts
}

/// <summary>A first start (empty store) found object storage not answering: it waits rather than start a timeline blind.</summary>
public sealed class ObjectStorageUnavailableException(string message, Exception inner) : Exception(message, inner);
