using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;

namespace WapBackup.Testing.Mongo.Oplog;

/// <summary>
/// Builds oplog entries as raw BSON in the field order MongoDB 6.0/7.0 writes:
/// [lsid, txnNumber,] op, ns, ui, o, o2, [stmtId,] ts, t, v, wall[, prevOpTime].
/// </summary>
public sealed class OplogEntryWriter
{
    private readonly BsonBytesWriter _writer = new(512);

    /// <summary>One data or command entry. <paramref name="retryable"/> adds lsid/txnNumber/stmtId/prevOpTime.</summary>
    public byte[] Entry(string op, string ns, Guid? ui, ReadOnlySpan<byte> o, ReadOnlySpan<byte> o2, long ts, long term, long wall,
        SessionInfo? retryable = null, int stmtId = 0, long prevTs = 0, long prevTerm = -1)
    {
        var w = _writer;
        w.Reset();
        w.StartDocument();
        if (retryable is not null)
        {
            w.WriteRawDocument("lsid", retryable.OplogLsid);
            w.WriteInt64("txnNumber", retryable.TxnNumber);
        }
        w.WriteString("op", op);
        w.WriteString("ns", ns);
        if (ui is Guid uuid)
        {
            w.WriteUuid("ui", uuid);
        }
        w.WriteRawDocument("o", o);
        if (!o2.IsEmpty)
        {
            w.WriteRawDocument("o2", o2);
        }
        if (retryable is not null)
        {
            w.WriteInt32("stmtId", stmtId);
        }
        w.WriteTimestamp("ts", ts);
        w.WriteInt64("t", term);
        w.WriteInt64("v", 2);
        w.WriteDateTime("wall", wall);
        if (retryable is not null)
        {
            WritePrevOpTime(w, prevTs, prevTerm);
        }
        w.EndDocument();
        return w.ToArray();
    }

    /// <summary>
    /// A transaction's applyOps entry (ns admin.$cmd): o = {applyOps: [...], partialTxn: true} for
    /// a non-final link of a chain, {applyOps: [...], count: n} for the final link of a chain.
    /// </summary>
    public byte[] TransactionEntry(SessionInfo session, IReadOnlyList<byte[]> ops, bool partial, long? count,
        long ts, long term, long wall, long prevTs, long prevTerm, bool prepare = false)
    {
        var w = StartTransactionCommand(session);
        w.StartDocument("o");
        WriteOperations(w, ops);
        if (partial)
        {
            w.WriteBoolean("partialTxn", true);
        }
        else
        {
            if (prepare)
            {
                w.WriteBoolean("prepare", true);
            }
            if (count is long n)
            {
                w.WriteInt64("count", n);
            }
        }
        w.EndDocument();
        w.WriteTimestamp("ts", ts);
        w.WriteInt64("t", term);
        w.WriteInt64("v", 2);
        w.WriteDateTime("wall", wall);
        WritePrevOpTime(w, prevTs, prevTerm);
        w.EndDocument();
        return w.ToArray();
    }

    /// <summary>A prepared transaction's end: {lsid, txnNumber, op: c, ns: admin.$cmd, o: {commitTransaction: 1, commitTimestamp} | {abortTransaction: 1}, ts, t, v, wall, prevOpTime}.</summary>
    public byte[] TransactionCommandEntry(SessionInfo session, ReadOnlySpan<byte> o, long ts, long term, long wall, long prevTs, long prevTerm)
    {
        var w = StartTransactionCommand(session);
        w.WriteRawDocument("o", o);
        w.WriteTimestamp("ts", ts);
        w.WriteInt64("t", term);
        w.WriteInt64("v", 2);
        w.WriteDateTime("wall", wall);
        WritePrevOpTime(w, prevTs, prevTerm);
        w.EndDocument();
        return w.ToArray();
    }

    /// <summary>A non-transaction atomic applyOps entry: {op: c, ns: admin.$cmd, o: {applyOps: [...]}, ts, t, v, wall}.</summary>
    public byte[] ApplyOpsEntry(IReadOnlyList<byte[]> ops, long ts, long term, long wall)
    {
        var w = _writer;
        w.Reset();
        w.StartDocument();
        w.WriteString("op", "c");
        w.WriteString("ns", "admin.$cmd");
        w.StartDocument("o");
        WriteOperations(w, ops);
        w.EndDocument();
        w.WriteTimestamp("ts", ts);
        w.WriteInt64("t", term);
        w.WriteInt64("v", 2);
        w.WriteDateTime("wall", wall);
        w.EndDocument();
        return w.ToArray();
    }

    /// <summary>An operation inside a transaction's applyOps: op, ns, ui, o, o2 (no ts: it takes the parent's).</summary>
    public byte[] InnerOp(string op, string ns, Guid? ui, ReadOnlySpan<byte> o, ReadOnlySpan<byte> o2)
    {
        var w = _writer;
        w.Reset();
        w.StartDocument();
        w.WriteString("op", op);
        w.WriteString("ns", ns);
        if (ui is Guid uuid)
        {
            w.WriteUuid("ui", uuid);
        }
        w.WriteRawDocument("o", o);
        if (!o2.IsEmpty)
        {
            w.WriteRawDocument("o2", o2);
        }
        w.EndDocument();
        return w.ToArray();
    }

    /// <summary>Resets the writer and starts {lsid, txnNumber, op: "c", ns: "admin.$cmd"}, the head of every transaction entry.</summary>
    private BsonBytesWriter StartTransactionCommand(SessionInfo session)
    {
        var w = _writer;
        w.Reset();
        w.StartDocument();
        w.WriteRawDocument("lsid", session.OplogLsid);
        w.WriteInt64("txnNumber", session.TxnNumber);
        w.WriteString("op", "c");
        w.WriteString("ns", "admin.$cmd");
        return w;
    }

    private static void WriteOperations(BsonBytesWriter w, IReadOnlyList<byte[]> ops)
    {
        w.StartArray("applyOps");
        for (int i = 0; i < ops.Count; i++)
        {
            w.WriteRawDocument(BsonEncoder.IndexName(i), ops[i]);
        }
        w.EndDocument();
    }

    private static void WritePrevOpTime(BsonBytesWriter w, long prevTs, long prevTerm)
    {
        w.StartDocument("prevOpTime");
        w.WriteTimestamp("ts", prevTs);
        w.WriteInt64("t", prevTerm);
        w.EndDocument();
    }
}
