using System.Runtime.CompilerServices;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Capture;

/// <summary>
/// The source cluster's <c>local.oplog.rs</c>, tailed with a tailable awaitData cursor. Every
/// (re)open starts AT the last entry already handed out and checks that the source still returns
/// exactly that entry first: otherwise the oplog rolled over or diverged, and tailing stops with
/// a <see cref="CaptureGapException"/> instead of silently skipping what is missing.
/// </summary>
public sealed class SourceOplog
{
    private const int CappedPositionLost = 136;

    private readonly IMongoCollection<RawBson> _oplog;
    private readonly TimeSpan _maxAwait;

    public SourceOplog(IMongoClient client, bool secondaryPreferred, TimeSpan maxAwait)
    {
        _oplog = client.GetDatabase("local").GetCollection<RawBson>("oplog.rs")
            .WithReadPreference(secondaryPreferred ? ReadPreference.SecondaryPreferred : ReadPreference.Primary);
        _maxAwait = maxAwait;
    }

    /// <summary>The newest entry of the source's oplog, or null when it is empty.</summary>
    public async Task<CapturedEntry?> NewestAsync(CancellationToken cancellationToken)
    {
        var newest = await _oplog.Find(FilterDefinition<RawBson>.Empty)
            .Sort(new BsonDocument("$natural", -1)).Limit(1)
            .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        return newest is null ? null : ToEntry(newest.Bytes);
    }

    /// <summary>The oldest ts the source still holds, or null when its oplog is empty.</summary>
    public async Task<OplogTimestamp?> OldestAsync(CancellationToken cancellationToken)
    {
        var oldest = await _oplog.Find(FilterDefinition<RawBson>.Empty)
            .Sort(new BsonDocument("$natural", 1)).Limit(1)
            .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        return oldest is null ? null : ToEntry(oldest.Bytes).Ts;
    }

    /// <summary>
    /// Batches of raw entries strictly after <paramref name="checkpoint"/> (or, with no checkpoint,
    /// from the source's newest entry inclusive), gap-free, until cancelled.
    /// </summary>
    public async IAsyncEnumerable<IReadOnlyList<byte[]>> TailAsync(
        CapturedEntry? checkpoint, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (checkpoint is null)
        {
            CapturedEntry? newest;
            while ((newest = await NewestAsync(cancellationToken).ConfigureAwait(false)) is null)
            {
                await Task.Delay(_maxAwait, cancellationToken).ConfigureAwait(false);
            }
            yield return [newest.Value.Bytes.ToArray()];
            checkpoint = newest;
        }

        var last = checkpoint.Value;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var filter = new BsonDocument("ts", new BsonDocument("$gte", new BsonTimestamp((long)last.Ts.Value)));
            var options = new FindOptions<RawBson> { CursorType = CursorType.TailableAwait, MaxAwaitTime = _maxAwait, NoCursorTimeout = true };
            using var cursor = await OpenAsync(filter, options, last.Ts, cancellationToken).ConfigureAwait(false);
            bool verified = false;
            while (await MoveNextAsync(cursor, last.Ts, cancellationToken).ConfigureAwait(false))
            {
                var batch = new List<byte[]>();
                foreach (var document in cursor.Current)
                {
                    batch.Add(document.Bytes);
                }
                if (!verified)
                {
                    if (batch.Count == 0)
                    {
                        await ThrowIfSourceEndsBeforeAsync(last, cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    await VerifyAsync(last, batch[0], cancellationToken).ConfigureAwait(false);
                    verified = true;
                    batch.RemoveAt(0); // already captured
                }
                if (batch.Count > 0)
                {
                    last = ToEntry(batch[^1]);
                    yield return batch;
                }
            }
            // The cursor died (e.g. it was opened on an empty range); reopen at the last entry, verified again.
        }
    }

    private async Task<IAsyncCursor<RawBson>> OpenAsync(BsonDocument filter, FindOptions<RawBson> options, OplogTimestamp at, CancellationToken cancellationToken)
    {
        try
        {
            return await _oplog.FindAsync(filter, options, cancellationToken).ConfigureAwait(false);
        }
        catch (MongoCommandException e) when (e.Code == CappedPositionLost)
        {
            throw RolledOver(at, e);
        }
    }

    private static async Task<bool> MoveNextAsync(IAsyncCursor<RawBson> cursor, OplogTimestamp at, CancellationToken cancellationToken)
    {
        try
        {
            return await cursor.MoveNextAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (MongoCommandException e) when (e.Code == CappedPositionLost)
        {
            throw RolledOver(at, e);
        }
    }

    /// <summary>The first entry at or after the checkpoint must be the checkpointed entry itself, byte for byte.</summary>
    private async Task VerifyAsync(CapturedEntry checkpoint, byte[] first, CancellationToken cancellationToken)
    {
        var firstTs = ToEntry(first).Ts;
        if (firstTs > checkpoint.Ts)
        {
            // Missing entry: rolled over if everything older is gone too, else the history differs.
            var oldest = await OldestAsync(cancellationToken).ConfigureAwait(false);
            if (oldest is { } o && o <= checkpoint.Ts)
            {
                throw new CaptureGapException(GapKind.Divergence, checkpoint.Ts,
                    $"oplog divergence: the source holds entries before and after the captured checkpoint {checkpoint.Ts} but not that entry (rollback or a different cluster). A new full copy is needed.");
            }
            throw new CaptureGapException(GapKind.Rollover, checkpoint.Ts,
                $"oplog gap: the source no longer holds the checkpointed entry {checkpoint.Ts}; its oldest entry is {oldest?.ToString() ?? "none"} (rolled over). A new full copy is needed.");
        }
        if (!first.AsSpan().SequenceEqual(checkpoint.Bytes.Span))
        {
            throw new CaptureGapException(GapKind.Divergence, checkpoint.Ts,
                $"oplog divergence: the source's entry at {checkpoint.Ts} differs from the captured one (rollback or a different cluster). A new full copy is needed.");
        }
    }

    private async Task ThrowIfSourceEndsBeforeAsync(CapturedEntry checkpoint, CancellationToken cancellationToken)
    {
        var newest = await NewestAsync(cancellationToken).ConfigureAwait(false);
        if (newest is null || newest.Value.Ts < checkpoint.Ts)
        {
            throw new CaptureGapException(GapKind.Divergence, checkpoint.Ts,
                $"oplog divergence: the source's newest entry is {newest?.Ts.ToString() ?? "none"}, before the captured checkpoint {checkpoint.Ts} (rollback or a different cluster). A new full copy is needed.");
        }
    }

    private static CaptureGapException RolledOver(OplogTimestamp at, Exception inner) =>
        new(GapKind.Rollover, at, $"oplog gap: the source's oplog rolled over past the capture position {at} (CappedPositionLost). A new full copy is needed.", inner);

    internal static CapturedEntry ToEntry(byte[] bytes) =>
        new(new OplogEntry(bytes).Timestamp ?? throw new InvalidDataException("source oplog entry has no ts timestamp"), bytes);
}
