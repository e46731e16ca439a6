using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;
using WapBackup.Testing.Mongo.Oplog;
using WapBackup.Testing.Mongo.Storage;

namespace WapBackup.Testing.Mongo;

/// <summary>
/// Everything one server instance holds: catalog, oplog, cursors, transactions. One lock (Gate)
/// guards it all: every command's data work is short and synchronous under it, which keeps oplog
/// order equal to ts order (see docs/decisions/0201).
/// </summary>
public sealed class ServerState
{
    private readonly Dictionary<long, ServerCursor> _cursors = [];
    private readonly Dictionary<(Guid, long), Transaction> _transactions = [];
    private long _nextCursorId = Random.Shared.NextInt64(1L << 40, 1L << 50);

    public ServerState(MongoTestServerOptions options, TimeProvider clock)
    {
        Options = options;
        Clock = clock;
        var oplog = new Collection("local", "oplog.rs", Guid.NewGuid(),
            new BsonDocument { { "capped", true }, { "size", options.OplogMaxBytes } }, idIndex: false);
        Catalog.Add(oplog);
        Oplog = new OplogLog(oplog, clock);
        ProcessId = ObjectId.GenerateNewId();
    }

    public object Gate { get; } = new();

    public MongoTestServerOptions Options { get; }

    public TimeProvider Clock { get; }

    public Catalog Catalog { get; } = new();

    public OplogLog Oplog { get; }

    public OplogEntryWriter EntryWriter { get; } = new();

    public ObjectId ProcessId { get; }

    public string HostAndPort { get; set; } = "127.0.0.1:0";

    public ServerCursor AddCursor(Func<long, ServerCursor> create)
    {
        long id = ++_nextCursorId;
        var cursor = create(id);
        _cursors[id] = cursor;
        return cursor;
    }

    public ServerCursor GetCursor(long id) => _cursors.TryGetValue(id, out var c) ? c : throw CommandException.CursorNotFound(id);

    public bool RemoveCursor(long id) => _cursors.Remove(id);

    public Transaction? FindTransaction(Guid session, long txnNumber) =>
        _transactions.TryGetValue((session, txnNumber), out var t) ? t : null;

    public Transaction StartTransaction(Guid session, SessionInfo info)
    {
        foreach (var key in _transactions.Keys.Where(k => k.Item1 == session).ToList())
        {
            var old = _transactions[key];
            if (!old.Committed && !old.Aborted)
            {
                old.RollBack();
            }
            _transactions.Remove(key);
        }
        var txn = new Transaction(info);
        _transactions[(session, info.TxnNumber)] = txn;
        return txn;
    }

    /// <summary>Returns a collection, creating it (and logging the create) when absent.</summary>
    public Collection GetOrCreate(WriteContext ctx, string database, string name)
    {
        var existing = Catalog.Find(database, name);
        if (existing is not null)
        {
            return existing;
        }
        return CreateCollection(ctx, database, name, new BsonDocument());
    }

    public Collection CreateCollection(WriteContext ctx, string database, string name, BsonDocument options, Guid? uuid = null)
    {
        Catalog.ValidateName(database, name);
        if (database == "local")
        {
            throw CommandException.NotImplemented($"creating collections in {database}");
        }
        bool idIndex = !(options.TryGetValue("autoIndexId", out var a) && !a.ToBoolean());
        var collection = new Collection(database, name, uuid ?? Guid.NewGuid(), options, idIndex);
        Catalog.Add(collection);
        var o = new BsonDocument("create", name);
        foreach (var option in options)
        {
            o.Add(option);
        }
        if (idIndex)
        {
            o.Add("idIndex", new BsonDocument { { "v", 2 }, { "key", new BsonDocument("_id", 1) }, { "name", "_id_" } });
        }
        LogCommand(ctx, database, collection.Uuid, o, null);
        ctx.Transaction?.Undo.Add(() => Catalog.Remove(collection));
        return collection;
    }

    /// <summary>Writes one CRUD entry: now (plain or retryable) or into the open transaction.</summary>
    public void LogCrud(WriteContext ctx, string op, Collection collection, ReadOnlySpan<byte> o, ReadOnlySpan<byte> o2)
    {
        if (collection.Database == "local")
        {
            return;
        }
        if (ctx.Transaction is { } txn)
        {
            txn.Operations.Add(EntryWriter.InnerOp(op, collection.FullName, collection.Uuid, o, o2));
            return;
        }
        long ts = Oplog.NextTimestamp();
        byte[] entry = EntryWriter.Entry(op, collection.FullName, collection.Uuid, o, o2, ts, Oplog.Term, Oplog.WallMilliseconds,
            ctx.Retryable, ctx.NextStatementId, ctx.PreviousTs, ctx.PreviousTerm);
        if (ctx.Retryable is not null)
        {
            ctx.NextStatementId++;
            ctx.PreviousTs = ts;
            ctx.PreviousTerm = Oplog.Term;
        }
        ctx.LastTs = ts;
        Oplog.Append(entry, ts);
    }

    public void LogCommand(WriteContext ctx, string database, Guid? ui, BsonDocument o, BsonDocument? o2)
    {
        if (database == "local")
        {
            return;
        }
        string ns = database + ".$cmd";
        byte[] oBytes = o.ToBson();
        byte[] o2Bytes = o2?.ToBson() ?? [];
        if (ctx.Transaction is { } txn)
        {
            txn.Operations.Add(EntryWriter.InnerOp("c", ns, ui, oBytes, o2Bytes));
            return;
        }
        long ts = Oplog.NextTimestamp();
        ctx.LastTs = ts;
        Oplog.Append(EntryWriter.Entry("c", ns, ui, oBytes, o2Bytes, ts, Oplog.Term, Oplog.WallMilliseconds), ts);
    }

    /// <summary>An `n` entry with the given o (applyOps `n` ops): now, or inside the batch being built.</summary>
    public void LogNoop(WriteContext ctx, BsonDocument o)
    {
        if (ctx.Transaction is { } txn)
        {
            txn.Operations.Add(EntryWriter.InnerOp("n", "", null, o.ToBson(), []));
            return;
        }
        long ts = Oplog.NextTimestamp();
        Oplog.Append(EntryWriter.Entry("n", "", null, o.ToBson(), [], ts, Oplog.Term, Oplog.WallMilliseconds), ts);
    }

    public void AppendNoop(string message)
    {
        long ts = Oplog.NextTimestamp();
        Oplog.Append(EntryWriter.Entry("n", "", null, new BsonDocument("msg", message).ToBson(), [], ts, Oplog.Term, Oplog.WallMilliseconds), ts);
    }

    /// <summary>Inserts a document (uniqueness checked), logs it, registers undo in a transaction.</summary>
    public StoredDocument InsertDocument(WriteContext ctx, Collection collection, byte[] raw, BsonValue? id)
    {
        collection.CheckUnique(id, () => RawBson.Decode(raw), null);
        var stored = collection.Insert(raw, id);
        if (collection.Database != "local")
        {
            // Retryable-write inserts carry o2 {_id} (as in the fixtures); plain inserts have no o2.
            ReadOnlySpan<byte> o2 = ctx.Retryable is not null && id is not null ? RawBson.IdDocument(id) : [];
            LogCrud(ctx, "i", collection, raw, o2);
        }
        ctx.Transaction?.Undo.Add(() => collection.Delete(stored));
        return stored;
    }

    public void ReplaceDocument(WriteContext ctx, Collection collection, StoredDocument stored, byte[] newRaw, BsonDocument decodedNew, ReadOnlySpan<byte> o)
    {
        collection.CheckUnique(stored.Id, () => decodedNew, stored);
        byte[] oldRaw = stored.Raw;
        collection.Replace(stored, newRaw, decodedNew);
        LogCrud(ctx, "u", collection, o, RawBson.IdDocument(stored.Id ?? BsonNull.Value));
        ctx.Transaction?.Undo.Add(() =>
        {
            var current = stored.Id is not null ? collection.FindById(stored.Id) ?? stored : stored;
            collection.Replace(current, oldRaw);
        });
    }

    public void DeleteDocument(WriteContext ctx, Collection collection, StoredDocument stored)
    {
        collection.Delete(stored);
        LogCrud(ctx, "d", collection, RawBson.IdDocument(stored.Id ?? BsonNull.Value), []);
        ctx.Transaction?.Undo.Add(() => collection.Restore(stored));
    }

    public void DropCollection(WriteContext ctx, Collection collection)
    {
        if (collection.Database == "local" && collection.Name == "oplog.rs")
        {
            throw new CommandException(20, "IllegalOperation", "cannot drop local.oplog.rs");
        }
        Catalog.Remove(collection);
        LogCommand(ctx, collection.Database, collection.Uuid, new BsonDocument("drop", collection.Name),
            new BsonDocument("numRecords", collection.Count));
    }

    /// <summary>An atomic applyOps batch: one {applyOps: [...]} command entry on admin.$cmd (no session fields).</summary>
    public void CommitAtomicBatch(Transaction batch)
    {
        if (batch.Operations.Count > 0)
        {
            long ts = Oplog.NextTimestamp();
            Oplog.Append(EntryWriter.ApplyOpsEntry(batch.Operations, ts, Oplog.Term, Oplog.WallMilliseconds), ts);
        }
        batch.Operations.Clear();
        batch.Undo.Clear();
        batch.Committed = true;
    }

    public Collection? FindByUuid(Guid uuid)
    {
        foreach (var db in Catalog.DatabaseNames)
        {
            foreach (var c in Catalog.CollectionsOf(db))
            {
                if (c.Uuid == uuid)
                {
                    return c;
                }
            }
        }
        return null;
    }

    /// <summary>Writes a committed transaction: one applyOps entry, or a partialTxn chain over the size limit.</summary>
    public void CommitTransaction(Transaction txn)
    {
        txn.Committed = true;
        if (txn.Operations.Count == 0)
        {
            return;
        }
        var chunks = new List<List<byte[]>>();
        var current = new List<byte[]>();
        long size = 0;
        foreach (var op in txn.Operations)
        {
            if (current.Count > 0 && size + op.Length > Options.TransactionOplogEntryMaxBytes)
            {
                chunks.Add(current);
                current = [];
                size = 0;
            }
            current.Add(op);
            size += op.Length;
        }
        chunks.Add(current);
        long prevTs = 0, prevTerm = -1;
        for (int i = 0; i < chunks.Count; i++)
        {
            bool last = i == chunks.Count - 1;
            long ts = Oplog.NextTimestamp();
            byte[] entry = EntryWriter.TransactionEntry(txn.Session!, chunks[i], partial: !last,
                count: last && chunks.Count > 1 ? txn.Operations.Count : null, ts, Oplog.Term, Oplog.WallMilliseconds, prevTs, prevTerm);
            Oplog.Append(entry, ts);
            prevTs = ts;
            prevTerm = Oplog.Term;
        }
        txn.Operations.Clear();
        txn.Undo.Clear();
    }
}
