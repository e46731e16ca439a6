using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Capture;

/// <summary>
/// Where a first start (empty store, re-init) begins: the newest majority-committed entry, moved back
/// so that every transaction a later reader meets can be assembled whole (decision 0412):
/// to the first entry of the transaction chain that entry belongs to (a <c>partialTxn</c> link, the
/// final link or a prepared transaction's commit, followed back along <c>prevOpTime</c>), and to the
/// first entry of the oldest transaction still open in <c>config.transactions</c> (prepared: its
/// entries are written before it commits), found as mongodump finds it.
/// </summary>
internal static class InitialPosition
{
    /// <summary>The entry to start at, or null while the member's oplog holds nothing committed.</summary>
    public static async Task<CapturedEntry?> FindAsync(SourceMember member, CancellationToken cancellationToken)
    {
        var committed = await member.CommitPointAsync(cancellationToken).ConfigureAwait(false);
        var newest = await member.Oplog.Find(new BsonDocument("ts", new BsonDocument("$lte", Bson(committed))))
            .Sort(new BsonDocument("$natural", -1)).Limit(1)
            .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        if (newest is null)
        {
            return null;
        }
        var start = SourceOplog.ToEntry(newest.Bytes);
        while (ChainPredecessor(start.Bytes) is { } previous)
        {
            start = await EntryAtAsync(member, previous, "the transaction chain of the newest entry", cancellationToken).ConfigureAwait(false);
        }
        if (await OldestOpenTransactionStartAsync(member, cancellationToken).ConfigureAwait(false) is { } open && open < start.Ts)
        {
            start = await EntryAtAsync(member, open, "the oldest open transaction", cancellationToken).ConfigureAwait(false);
        }
        return start;
    }

    /// <summary>
    /// The previous link of a transaction chain: a command entry with a session whose prevOpTime is set
    /// (applyOps links and prepared commits/aborts). Retryable writes link by prevOpTime too, but each of
    /// their entries stands alone (op i/u/d), so only command entries count.
    /// </summary>
    internal static OplogTimestamp? ChainPredecessor(ReadOnlyMemory<byte> entry)
    {
        var raw = new RawDocument(entry);
        var op = raw.Find("op"u8);
        if (op.Type != BsonType.String || !op.StringUtf8.SequenceEqual("c"u8) || raw.Find("lsid"u8).Type != BsonType.Document)
        {
            return null;
        }
        var prev = raw.Find("prevOpTime"u8);
        if (prev.Type != BsonType.Document)
        {
            return null;
        }
        var ts = prev.AsDocument.Find("ts"u8);
        return ts.Type == BsonType.Timestamp && ts.AsTimestamp != OplogTimestamp.Zero ? ts.AsTimestamp : null;
    }

    /// <summary>mongodump's oldest active transaction: state prepared or inProgress, smallest startOpTime.</summary>
    private static async Task<OplogTimestamp?> OldestOpenTransactionStartAsync(SourceMember member, CancellationToken cancellationToken)
    {
        var open = await member.Transactions
            .Find(new BsonDocument
            {
                { "state", new BsonDocument("$in", new BsonArray { "prepared", "inProgress" }) },
                { "startOpTime", new BsonDocument("$exists", true) },
            })
            .Sort(new BsonDocument("startOpTime", 1)).Limit(1)
            .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        return open?["startOpTime"]["ts"] is BsonTimestamp ts ? OplogTimestamp.FromValue((ulong)ts.Value) : null;
    }

    private static async Task<CapturedEntry> EntryAtAsync(SourceMember member, OplogTimestamp ts, string what, CancellationToken cancellationToken)
    {
        var found = await member.Oplog.Find(new BsonDocument("ts", Bson(ts))).Limit(1)
            .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        // Starting after it would hand every later reader a transaction it cannot assemble.
        return found is null
            ? throw new CaptureGapException(GapKind.Rollover, ts,
                $"oplog gap at first start: the first entry {ts} of {what} is no longer in the source's oplog ({member.Description}); capture cannot start with that transaction whole.")
            : SourceOplog.ToEntry(found.Bytes);
    }

    private static BsonTimestamp Bson(OplogTimestamp ts) => new((long)ts.Value);
}
