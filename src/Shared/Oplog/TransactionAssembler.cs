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

/// <summary>A transaction chain whose start is missing (a commit or chain link for a transaction never seen): replay must stop.</summary>
public sealed class TransactionGapException(string message) : InvalidOperationException(message);

/// <summary>
/// Assembles transactions from applyOps / commitTransaction / abortTransaction entries, fed in
/// oplog order (shared/notes/oplog.md, "Transactions"): a single applyOps commits by itself; a
/// partialTxn chain (linked by prevOpTime) commits with its last entry; a prepared transaction
/// waits for commitTransaction (cross-shard: its own ts, same commitTimestamp) or is dropped by
/// abortTransaction. applyOps without lsid/txnNumber, or with multiOpType (vectored inserts),
/// is not a transaction and applies at once. Inner operations take their parent entry's ts.
/// Pending state survives a checkpoint through <see cref="SaveState"/> / <see cref="Restore"/>.
/// </summary>
public sealed class TransactionAssembler
{
    private readonly Dictionary<TransactionKey, Pending> _pending = [];

    public int PendingCount => _pending.Count;

    /// <summary>The ts of the oldest entry still buffered (a checkpoint that drops state must resume there), or null.</summary>
    public OplogTimestamp? OldestPendingTimestamp =>
        _pending.Count == 0 ? null : _pending.Values.Min(p => p.Entries[0].Timestamp!.Value);

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
        pending ??= _pending[key.Value] = new Pending();
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

    /// <summary>The buffered chains as one BSON document, to store with a checkpoint.</summary>
    public BsonDocument SaveState()
    {
        var pending = new BsonArray();
        foreach (var (key, value) in _pending.OrderBy(p => p.Value.Entries[0].Timestamp!.Value))
        {
            pending.Add(new BsonDocument
            {
                { "prepared", value.Prepared },
                { "entries", new BsonArray(value.Entries.Select(e => (BsonValue)e.Document.ToBsonDocument())) },
            });
        }
        return new BsonDocument { { "version", 1 }, { "pending", pending } };
    }

    /// <summary>Rebuilds an assembler from <see cref="SaveState"/>'s document.</summary>
    public static TransactionAssembler Restore(BsonDocument state)
    {
        if (!state.TryGetValue("version", out var version) || version != 1 || state.GetValue("pending", BsonNull.Value) is not BsonArray pending)
        {
            throw new FormatException("transaction state: expected {version: 1, pending: [...]}");
        }
        var assembler = new TransactionAssembler();
        for (int i = 0; i < pending.Count; i++)
        {
            if (pending[i] is not BsonDocument item || item.GetValue("entries", BsonNull.Value) is not BsonArray { Count: > 0 } entries)
            {
                throw new FormatException($"transaction state: pending[{i}] needs a non-empty entries array");
            }
            var restored = new Pending { Prepared = item.GetValue("prepared", false).ToBoolean() };
            foreach (var e in entries)
            {
                restored.Entries.Add(new OplogEntry(e.AsBsonDocument.ToBson()));
            }
            var key = TransactionKey.Of(restored.Entries[0]) ?? throw new FormatException($"transaction state: pending[{i}] has no lsid/txnNumber");
            assembler._pending[key] = restored;
        }
        return assembler;
    }

    private sealed class Pending
    {
        public List<OplogEntry> Entries { get; } = [];
        public bool Prepared { get; set; }
        public OplogTimestamp LastTimestamp => Entries[^1].Timestamp!.Value;
    }

    /// <summary>(lsid bytes, txnNumber): one transaction of one session.</summary>
    private readonly record struct TransactionKey(string SessionId, long TxnNumber)
    {
        public static TransactionKey? Of(in OplogEntry entry) =>
            entry.SessionId is { } lsid && entry.TxnNumber is { } txn ? new TransactionKey(Convert.ToBase64String(lsid.Bytes.Span), txn) : null;
    }
}
