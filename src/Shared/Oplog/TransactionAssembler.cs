using MongoDB.Bson;

namespace WapBackup.Shared.Oplog;

/// <summary>An operation ready to replay: an insert/update/delete/command from inside an applyOps, with the parent entry's ts.</summary>
public readonly record struct ReplayOperation(OplogTimestamp Timestamp, OplogEntry Entry);

public enum TransactionOutcomeKind
{
    /// <summary>Part of a chain (partialTxn) or a prepared transaction: kept until it commits or aborts.</summary>
    Buffered,
    /// <summary>Complete: apply <see cref="TransactionOutcome.Operations"/> together, in order.</summary>
    Committed,
    /// <summary>abortTransaction: the buffered operations were dropped.</summary>
    Aborted,
}

/// <summary>What one transaction entry produced.</summary>
public sealed record TransactionOutcome(
    TransactionOutcomeKind Kind,
    IReadOnlyList<ReplayOperation> Operations,
    OplogTimestamp EntryTimestamp,
    OplogTimestamp? CommitTimestamp)
{
    /// <summary>True for an applyOps outside a transaction (legacy batch, 8.0 vectored insert): applied as it comes.</summary>
    public bool IsTransaction { get; init; }
}

/// <summary>
/// Where an open transaction stands: what a checkpoint keeps instead of its buffered entries (a chain
/// can reach hundreds of MiB; a checkpoint document must stay far below 16 MiB). A resume re-reads the
/// captured oplog from <see cref="FirstTimestamp"/> to rebuild it.
/// </summary>
public sealed record OpenTransaction(BsonDocument SessionId, long TxnNumber, OplogTimestamp FirstTimestamp)
{
    internal string Key => Convert.ToBase64String(SessionId.ToBson());

    /// <summary>The session's <c>lsid.id</c> as a UUID where it is one (what an operator looks up), else the whole lsid.</summary>
    public string SessionText =>
        SessionId.GetValue("id", BsonNull.Value) is BsonBinaryData { SubType: BsonBinarySubType.UuidStandard } id ? id.ToGuid().ToString() : SessionId.ToJson();

    public override string ToString() => $"lsid {SessionText}, txnNumber {TxnNumber}, first ts {FirstTimestamp}";
}

/// <summary>A transaction chain whose start is missing (a commit or chain link for a transaction never seen): replay must stop.</summary>
public sealed class TransactionGapException(string message) : InvalidOperationException(message);

/// <summary>
/// Assembles transactions from applyOps / commitTransaction / abortTransaction entries, fed in
/// oplog order (shared/notes/oplog.md, "Transactions"): a single applyOps commits by itself; a
/// partialTxn chain (linked by prevOpTime) commits with its last entry; a prepared transaction
/// waits for commitTransaction (cross-shard: its own ts, same commitTimestamp) or is dropped by
/// abortTransaction. applyOps without lsid/txnNumber, or with multiOpType (vectored inserts),
/// is not a transaction and applies at once. Inner operations take their parent entry's ts.
/// A checkpoint keeps only positions (<see cref="OpenTransactions"/>); a resume rebuilds the open
/// transactions from the re-read entries (<see cref="Resume"/>, <see cref="Rebuild"/>, <see cref="EndRebuild"/>).
/// </summary>
public sealed class TransactionAssembler
{
    private readonly Dictionary<TransactionKey, Pending> _pending = [];
    private readonly Dictionary<TransactionKey, OpenTransaction> _rebuilding = [];

    public int PendingCount => _pending.Count;

    /// <summary>The transactions still open, oldest first: what a checkpoint keeps.</summary>
    public IReadOnlyList<OpenTransaction> OpenTransactions =>
        [.. _pending.Values.Select(p => p.Open).OrderBy(o => o.FirstTimestamp)];

    /// <summary>
    /// An assembler that is to rebuild <paramref name="open"/> (a checkpoint's open transactions): feed it,
    /// through <see cref="Rebuild"/>, every entry from the oldest one's first ts through the checkpoint,
    /// then call <see cref="EndRebuild"/>.
    /// </summary>
    public static TransactionAssembler Resume(IEnumerable<OpenTransaction> open)
    {
        var assembler = new TransactionAssembler();
        foreach (var transaction in open)
        {
            if (!assembler._rebuilding.TryAdd(new TransactionKey(transaction.Key, transaction.TxnNumber), transaction))
            {
                throw new ArgumentException($"open transaction {transaction} is listed twice", nameof(open));
            }
        }
        return assembler;
    }

    /// <summary>
    /// Feeds an entry at or before the checkpoint that is re-read on resume. Only the open transactions'
    /// entries are kept; every other transaction completed before the checkpoint and was applied then.
    /// An open transaction cannot complete here: that would contradict the checkpoint.
    /// </summary>
    public void Rebuild(in OplogEntry entry)
    {
        if (TransactionKey.Of(entry) is not { } key || !_rebuilding.TryGetValue(key, out var open) || entry.Timestamp < open.FirstTimestamp)
        {
            return;
        }
        var outcome = Add(entry);
        if (outcome.Kind != TransactionOutcomeKind.Buffered)
        {
            throw new TransactionGapException(
                $"entry at ts={outcome.EntryTimestamp.ToJson()} completes transaction {open}, which the checkpoint recorded as open after it");
        }
    }

    /// <summary>Ends <see cref="Rebuild"/>: every resumed transaction must be buffered again from its first entry.</summary>
    public void EndRebuild()
    {
        foreach (var (key, open) in _rebuilding)
        {
            if (!_pending.TryGetValue(key, out var pending) || pending.Entries[0].Timestamp != open.FirstTimestamp)
            {
                throw new TransactionGapException(
                    $"open transaction {open} could not be rebuilt: its first entry is not in the re-read oplog (pruned or never captured)");
            }
        }
        _rebuilding.Clear();
    }

    /// <summary>Feeds one top-level entry classified as <see cref="OplogAction.Transaction"/>.</summary>
    public TransactionOutcome Add(in OplogEntry entry)
    {
        var ts = entry.Timestamp ?? throw new TransactionGapException($"transaction entry without ts: {Describe(entry)}");
        string command = entry.CommandName ?? throw new InvalidOperationException($"not a command entry at ts={ts.ToJson()}");
        return command switch
        {
            "applyOps" => AddApplyOps(entry, ts),
            "commitTransaction" => Commit(entry, ts),
            "abortTransaction" => Abort(entry, ts),
            _ => throw new InvalidOperationException($"{command} at ts={ts.ToJson()} is not a transaction entry"),
        };
    }

    private TransactionOutcome AddApplyOps(in OplogEntry entry, OplogTimestamp ts)
    {
        var key = TransactionKey.Of(entry);
        bool partial = entry.PartialTxn || IsPartialInO(entry);
        bool prepare = entry.Prepare || Flag(entry, "prepare"u8);
        if (key is null || entry.MultiOpType is not null)
        {
            if (partial || prepare)
            {
                throw new TransactionGapException($"applyOps with partialTxn/prepare but without lsid and txnNumber at ts={ts.ToJson()}");
            }
            return new TransactionOutcome(TransactionOutcomeKind.Committed, Inner(entry, ts), ts, null);
        }
        var prev = entry.PrevOpTime;
        _pending.TryGetValue(key.Value, out var pending);
        if (pending is null && prev is { IsNull: false })
        {
            throw new TransactionGapException(
                $"applyOps at ts={ts.ToJson()} continues a transaction (txnNumber {key.Value.TxnNumber}) from prevOpTime {prev.Value.Timestamp.ToJson()} that was never seen: resume from the chain's start");
        }
        if (pending is not null && prev is { } link && link.Timestamp != pending.LastTimestamp)
        {
            throw new TransactionGapException(
                $"applyOps at ts={ts.ToJson()} links to prevOpTime {link.Timestamp.ToJson()} but the transaction's last entry is {pending.LastTimestamp.ToJson()}");
        }
        if (pending is { Prepared: true })
        {
            throw new TransactionGapException($"applyOps at ts={ts.ToJson()} for a transaction already prepared (txnNumber {key.Value.TxnNumber})");
        }
        if (!partial && !prepare && pending is null)
        {
            return new TransactionOutcome(TransactionOutcomeKind.Committed, Inner(entry, ts), ts, null) { IsTransaction = true };
        }
        pending ??= _pending[key.Value] = new Pending(new OpenTransaction(entry.SessionId!.Value.ToBsonDocument(), key.Value.TxnNumber, ts));
        pending.Entries.Add(new OplogEntry(entry.Bytes.ToArray())); // the caller's buffer may be reused
        if (partial || prepare)
        {
            pending.Prepared = prepare;
            return new TransactionOutcome(TransactionOutcomeKind.Buffered, [], ts, null) { IsTransaction = true };
        }
        _pending.Remove(key.Value);
        return new TransactionOutcome(TransactionOutcomeKind.Committed, Flatten(pending), ts, null) { IsTransaction = true };
    }

    private TransactionOutcome Commit(in OplogEntry entry, OplogTimestamp ts)
    {
        var key = TransactionKey.Of(entry) ?? throw new TransactionGapException($"commitTransaction without lsid/txnNumber at ts={ts.ToJson()}");
        if (!_pending.Remove(key, out var pending))
        {
            throw new TransactionGapException(
                $"commitTransaction at ts={ts.ToJson()} (txnNumber {key.TxnNumber}) for a prepared transaction that was never seen: resume from the chain's start");
        }
        if (!pending.Prepared)
        {
            throw new TransactionGapException($"commitTransaction at ts={ts.ToJson()} for a transaction that was not prepared");
        }
        var commitTimestamp = entry.Object!.Value.Find("commitTimestamp"u8);
        return new TransactionOutcome(TransactionOutcomeKind.Committed, Flatten(pending), ts,
            commitTimestamp.Type == BsonType.Timestamp ? commitTimestamp.AsTimestamp : null) { IsTransaction = true };
    }

    private TransactionOutcome Abort(in OplogEntry entry, OplogTimestamp ts)
    {
        // Aborting a transaction never seen drops nothing: nothing of it was applied.
        if (TransactionKey.Of(entry) is { } key)
        {
            _pending.Remove(key);
        }
        return new TransactionOutcome(TransactionOutcomeKind.Aborted, [], ts, null) { IsTransaction = true };
    }

    private static IReadOnlyList<ReplayOperation> Flatten(Pending pending)
    {
        var operations = new List<ReplayOperation>();
        foreach (var part in pending.Entries)
        {
            operations.AddRange(Inner(part, part.Timestamp!.Value));
        }
        return operations;
    }

    private static List<ReplayOperation> Inner(in OplogEntry entry, OplogTimestamp ts)
    {
        var operations = new List<ReplayOperation>();
        foreach (var inner in entry.InnerOps)
        {
            operations.Add(new ReplayOperation(ts, inner));
        }
        return operations;
    }

    // 4.0 wrote partialTxn inside o; later servers at the top level.
    private static bool IsPartialInO(in OplogEntry entry) => Flag(entry, "partialTxn"u8);

    private static bool Flag(in OplogEntry entry, ReadOnlySpan<byte> name) =>
        entry.Object is { } o && o.Find(name) is { Type: BsonType.Boolean } e && e.AsBoolean;

    private static string Describe(in OplogEntry entry) => $"ns={entry.Namespace} op={entry.OperationName}";

    private sealed class Pending(OpenTransaction open)
    {
        public OpenTransaction Open { get; } = open;
        public List<OplogEntry> Entries { get; } = [];
        public bool Prepared { get; set; }
        public OplogTimestamp LastTimestamp => Entries[^1].Timestamp!.Value;
    }

    /// <summary>(lsid bytes, txnNumber): one transaction of one session.</summary>
    private readonly record struct TransactionKey(string SessionId, long TxnNumber)
    {
        public static TransactionKey? Of(in OplogEntry entry) =>
            entry.SessionId is { } lsid && entry.TxnNumber is { } txn ? new TransactionKey(Convert.ToBase64String(lsid.Bytes.Span), txn) : null;
        // OpenTransaction.Key is the same base64 of the lsid bytes: a BsonDocument round trip keeps them.
    }
}
