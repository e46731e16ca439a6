using System.Runtime.CompilerServices;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Capture;

/// <summary>
/// The source cluster's <c>local.oplog.rs</c>, tailed with a tailable awaitData cursor. Only entries
/// at or below the majority commit point are handed out (decision 0410): what is stored, reported
/// durable and sealed can never be rolled back. Every (re)open starts AT the last entry handed out
/// and checks that the source still returns exactly that entry first: otherwise the oplog rolled over
/// or diverged, and tailing stops with a <see cref="CaptureGapException"/> instead of silently
/// skipping what is missing. The tail and its checks are answered by one member (decision 0411).
/// </summary>
public sealed class SourceOplog
{
    private const int CappedPositionLost = 136;

    private readonly IMongoClient _client;
    private readonly bool _secondaryPreferred;
    private readonly IMongoCollection<RawBson> _primaryPreferred;
    private readonly TimeSpan _maxAwait;

    public SourceOplog(IMongoClient client, bool secondaryPreferred, TimeSpan maxAwait)
    {
        _client = client;
        _secondaryPreferred = secondaryPreferred;
        _primaryPreferred = OplogOf(client).WithReadPreference(ReadPreference.PrimaryPreferred);
        _maxAwait = maxAwait;
    }

    /// <summary>
    /// The newest entry of the source's oplog (its primary's while there is one), or null when it is empty:
    /// what capture's lag is measured against.
    /// </summary>
    public Task<CapturedEntry?> NewestAsync(CancellationToken cancellationToken) => NewestAsync(_primaryPreferred, cancellationToken);

    /// <summary>
    /// The oldest ts held by the member a tail would read (the primary, or with secondaryPreferred a
    /// secondary), or null when its oplog is empty: the same member answers as for the tail's own checks
    /// (decision 0411), so a shorter oplog elsewhere never reads as a rollover.
    /// </summary>
    public async Task<OplogTimestamp?> OldestAsync(CancellationToken cancellationToken)
    {
        using var member = await SourceMember.PinAsync(_client, _secondaryPreferred, cancellationToken).ConfigureAwait(false);
        return await OldestAsync(member.Oplog, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Batches of raw, majority-committed entries strictly after <paramref name="checkpoint"/> (or, with
    /// no checkpoint, from the <see cref="InitialPosition"/> inclusive), gap-free, until cancelled.
    /// </summary>
    public async IAsyncEnumerable<IReadOnlyList<byte[]>> TailAsync(
        CapturedEntry? checkpoint, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var member = await SourceMember.PinAsync(_client, _secondaryPreferred, cancellationToken).ConfigureAwait(false);
        if (checkpoint is null)
        {
            CapturedEntry? start;
            while ((start = await InitialPosition.FindAsync(member, cancellationToken).ConfigureAwait(false)) is null)
            {
                await Task.Delay(_maxAwait, cancellationToken).ConfigureAwait(false);
            }
            yield return [start.Value.Bytes.ToArray()];
            checkpoint = start;
        }

        var last = checkpoint.Value;
        var committed = await member.CommitPointAsync(cancellationToken).ConfigureAwait(false);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var filter = new BsonDocument("ts", new BsonDocument("$gte", new BsonTimestamp((long)last.Ts.Value)));
            var options = new FindOptions<RawBson> { CursorType = CursorType.TailableAwait, MaxAwaitTime = _maxAwait, NoCursorTimeout = true };
            using var cursor = await OpenAsync(member.Oplog, filter, options, last.Ts, cancellationToken).ConfigureAwait(false);
            bool verified = false;
            // Read from the source but above the commit point: handed out once the majority has them.
            var pending = new List<byte[]>();
            while (await MoveNextAsync(cursor, last.Ts, cancellationToken).ConfigureAwait(false))
            {
                foreach (var document in cursor.Current)
                {
                    pending.Add(document.Bytes);
                }
                if (!verified)
                {
                    if (pending.Count == 0)
                    {
                        await ThrowIfSourceEndsBeforeAsync(member, last, cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    await VerifyAsync(member, last, pending[0], cancellationToken).ConfigureAwait(false);
                    verified = true;
                    pending.RemoveAt(0); // already captured
                }
                var wait = TimeSpan.FromMilliseconds(5);
                while (pending.Count > 0)
                {
                    int ready = CommittedPrefix(pending, committed);
                    if (ready > 0)
                    {
                        var batch = pending.GetRange(0, ready);
                        pending.RemoveRange(0, ready);
                        last = ToEntry(batch[^1]);
                        yield return batch;
                        continue;
                    }
                    committed = await member.CommitPointAsync(cancellationToken).ConfigureAwait(false);
                    if (CommittedPrefix(pending, committed) == 0)
                    {
                        // The majority has not caught up (a secondary down or slow): not yet, never skipped.
                        await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                        wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, _maxAwait.Ticks));
                    }
                }
            }
            // The cursor died (e.g. it was opened on an empty range); reopen at the last entry, verified again.
            if (!verified)
            {
                await Task.Delay(_maxAwait, cancellationToken).ConfigureAwait(false); // a member not there yet: no busy loop
            }
        }
    }

    private static int CommittedPrefix(List<byte[]> entries, OplogTimestamp committed)
    {
        int count = 0;
        while (count < entries.Count && ToEntry(entries[count]).Ts <= committed)
        {
            count++;
        }
        return count;
    }

    internal static IMongoCollection<RawBson> OplogOf(IMongoClient client) => client.GetDatabase("local").GetCollection<RawBson>("oplog.rs");

    internal static async Task<CapturedEntry?> NewestAsync(IMongoCollection<RawBson> oplog, CancellationToken cancellationToken)
    {
        var newest = await oplog.Find(FilterDefinition<RawBson>.Empty)
            .Sort(new BsonDocument("$natural", -1)).Limit(1)
            .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        return newest is null ? null : ToEntry(newest.Bytes);
    }

    private static async Task<OplogTimestamp?> OldestAsync(IMongoCollection<RawBson> oplog, CancellationToken cancellationToken)
    {
        var oldest = await oplog.Find(FilterDefinition<RawBson>.Empty)
            .Sort(new BsonDocument("$natural", 1)).Limit(1)
            .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        return oldest is null ? null : ToEntry(oldest.Bytes).Ts;
    }

    private static async Task<IAsyncCursor<RawBson>> OpenAsync(IMongoCollection<RawBson> oplog, BsonDocument filter, FindOptions<RawBson> options, OplogTimestamp at, CancellationToken cancellationToken)
    {
        try
        {
            return await oplog.FindAsync(filter, options, cancellationToken).ConfigureAwait(false);
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
    private static async Task VerifyAsync(SourceMember member, CapturedEntry checkpoint, byte[] first, CancellationToken cancellationToken)
    {
        var firstTs = ToEntry(first).Ts;
        if (firstTs > checkpoint.Ts)
        {
            // Missing entry: rolled over if everything older is gone too, else the history differs.
            // Asked of the member that served the tail: another member's window or lag proves nothing.
            var oldest = await OldestAsync(member.Oplog, cancellationToken).ConfigureAwait(false);
            if (oldest is { } o && o <= checkpoint.Ts)
            {
                throw new CaptureGapException(GapKind.Divergence, checkpoint.Ts,
                    $"oplog divergence: the source ({member.Description}) holds entries before and after the captured checkpoint {checkpoint.Ts} but not that entry (rollback or a different cluster). A new full copy is needed.");
            }
            throw new CaptureGapException(GapKind.Rollover, checkpoint.Ts,
                $"oplog gap: the source ({member.Description}) no longer holds the checkpointed entry {checkpoint.Ts}; its oldest entry is {oldest?.ToString() ?? "none"} (rolled over). A new full copy is needed.");
        }
        if (!first.AsSpan().SequenceEqual(checkpoint.Bytes.Span))
        {
            throw new CaptureGapException(GapKind.Divergence, checkpoint.Ts,
                $"oplog divergence: the source's entry at {checkpoint.Ts} differs from the captured one (rollback or a different cluster). A new full copy is needed.");
        }
    }

    /// <summary>
    /// The tail returned nothing at the checkpoint: the member has not got there yet. A secondary behind
    /// it is "not yet" while the primary holds the checkpoint (captured entries are majority-committed,
    /// so the primary has them); a primary, or a whole set, ending before it is a divergence.
    /// </summary>
    private async Task ThrowIfSourceEndsBeforeAsync(SourceMember member, CapturedEntry checkpoint, CancellationToken cancellationToken)
    {
        var newest = await NewestAsync(member.Oplog, cancellationToken).ConfigureAwait(false);
        if (newest is { } n && n.Ts >= checkpoint.Ts)
        {
            return;
        }
        if (member.IsSecondary)
        {
            var primaryNewest = await NewestAsync(OplogOf(_client).WithReadPreference(ReadPreference.Primary), cancellationToken).ConfigureAwait(false);
            if (primaryNewest is { } p && p.Ts >= checkpoint.Ts)
            {
                return; // lagging: the awaitData tail waits for it
            }
        }
        throw new CaptureGapException(GapKind.Divergence, checkpoint.Ts,
            $"oplog divergence: the source's newest entry is {newest?.Ts.ToString() ?? "none"}, before the captured checkpoint {checkpoint.Ts} (rollback or a different cluster). A new full copy is needed.");
    }

    private static CaptureGapException RolledOver(OplogTimestamp at, Exception inner) =>
        new(GapKind.Rollover, at, $"oplog gap: the source's oplog rolled over past the capture position {at} (CappedPositionLost). A new full copy is needed.", inner);

    internal static CapturedEntry ToEntry(byte[] bytes) =>
        new(new OplogEntry(bytes).Timestamp ?? throw new InvalidDataException("source oplog entry has no ts timestamp"), bytes);
}
