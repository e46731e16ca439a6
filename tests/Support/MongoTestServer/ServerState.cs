using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;
using WapBackup.Testing.Mongo.Oplog;
using WapBackup.Testing.Mongo.Storage;
using WapBackup.Testing.Mongo.Wire;

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
    private readonly List<Transaction> _open = [];
    private readonly HashSet<Collection> _versioned = [];
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

    /// <summary>How many of the newest oplog entries the secondary does not see yet (<see cref="MongoTestServer.SetSecondaryOplogLag"/>).</summary>
    public int SecondaryOplogLagEntries { get; set; }

    /// <summary>The newest oplog ts <paramref name="member"/> holds (the secondary may lag). Caller holds the lock.</summary>
    public long NewestOplogTs(ReplicaSetMember member) => Oplog.NewestVisible(member.IsPrimary ? 0 : SecondaryOplogLagEntries);

    /// <summary>The majority commit point as <paramref name="member"/> knows it: never past what it holds. Caller holds the lock.</summary>
    public long CommitPointSeenBy(ReplicaSetMember member)
    {
        long newest = NewestOplogTs(member);
        long committed = Oplog.CommitPoint;
        return (ulong)committed < (ulong)newest ? committed : newest;
    }

    /// <summary>
    /// The newest oplog ts a read on <paramref name="member"/> may return: what the member holds, and with
    /// readConcern majority no more than the commit point. Caller holds the lock.
    /// </summary>
    public long OplogReadBound(ReplicaSetMember member, bool majority) => majority ? CommitPointSeenBy(member) : NewestOplogTs(member);

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

    /// <summary>Sequence of the last commit (any write outside a transaction, or a transaction's commit).</summary>
    public long CommitSequence { get; private set; }

    /// <summary>Client transactions neither committed nor aborted (read without the lock only as a hint).</summary>
    public int OpenTransactionCount => _open.Count;

    public Transaction StartTransaction(Guid session, SessionInfo info)
    {
        AbortExpiredTransactions();
        foreach (var key in _transactions.Keys.Where(k => k.Item1 == session).ToList())
        {
            AbortTransaction(_transactions[key]);
            _transactions.Remove(key);
        }
        // The snapshot is taken here: startTransaction rides on the transaction's first operation.
        var txn = new Transaction(info)
        {
            Snapshot = CommitSequence,
            ExpiresAt = Clock.GetUtcNow() + Options.TransactionLifetimeLimit,
        };
        _transactions[(session, info.TxnNumber)] = txn;
        _open.Add(txn);
        return txn;
    }

    /// <summary>Aborts a client transaction (its writes were never visible) or rolls back a batch; logs nothing.</summary>
    public void AbortTransaction(Transaction txn)
    {
        if (!txn.IsOpen)
        {
            return;
        }
        txn.RollBack();
        EndTransaction(txn);
    }

    /// <summary>Aborts the transactions open longer than TransactionLifetimeLimit, as the server's reaper does.</summary>
    public void AbortExpiredTransactions()
    {
        if (_open.Count == 0)
        {
            return;
        }
        var now = Clock.GetUtcNow();
        foreach (var txn in _open.Where(t => t.ExpiresAt <= now).ToList())
        {
            AbortTransaction(txn);
        }
    }

    private void EndTransaction(Transaction txn)
    {
        _open.Remove(txn);
        txn.MarkEnded();
        // Prior versions are kept only while an open snapshot can still see them.
        if (_open.Count == 0)
        {
            foreach (var c in _versioned)
            {
                c.ClearHistory();
            }
            _versioned.Clear();
            return;
        }
        long oldest = _open.Min(t => t.Snapshot);
        _versioned.RemoveWhere(c =>
        {
            c.TrimHistory(oldest);
            return !c.HasHistory;
        });
    }

    /// <summary>The open transaction holding this uncommitted write, or null when its owner expired (aborted here).</summary>
    private Transaction? Holder(PendingWrite write)
    {
        var owner = write.Owner;
        if (owner.ExpiresAt <= Clock.GetUtcNow())
        {
            AbortTransaction(owner);
            return null;
        }
        return owner;
    }

    /// <summary>
    /// Runs a write step under <see cref="Gate"/>; when it is blocked by an open transaction, waits
    /// outside the lock until that transaction ends (or expires) and runs the step again. The step
    /// must be resumable: a blocked statement changed nothing. Honours maxTimeMS (MaxTimeMSExpired 50).
    /// </summary>
    public async ValueTask<T> WriteWhenUnblockedAsync<T>(Func<T> step, BsonDocument body, CancellationToken cancellationToken)
    {
        DateTimeOffset? deadline = body.TryGetValue("maxTimeMS", out var m) && m.IsNumeric && m.ToInt64() > 0
            ? Clock.GetUtcNow().AddMilliseconds(m.ToInt64())
            : null;
        while (true)
        {
            Transaction holder;
            lock (Gate)
            {
                try
                {
                    return step();
                }
                catch (TransactionBlockedException blocked)
                {
                    holder = blocked.Holder;
                }
            }
            var now = Clock.GetUtcNow();
            if (deadline is { } d && now >= d)
            {
                throw new CommandException(50, "MaxTimeMSExpired", "operation exceeded time limit");
            }
            var until = deadline is { } d2 && d2 < holder.ExpiresAt ? d2 : holder.ExpiresAt;
            var wait = until - now;
            if (wait > TimeSpan.Zero)
            {
                using var stopWaiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                await Task.WhenAny(holder.Ended, Task.Delay(wait > TimeSpan.FromDays(1) ? TimeSpan.FromDays(1) : wait, Clock, stopWaiting.Token)).ConfigureAwait(false);
                await stopWaiting.CancelAsync().ConfigureAwait(false);
            }
            cancellationToken.ThrowIfCancellationRequested();
        }
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
        collection.CreatedBy = ctx.Reader;
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

    /// <summary>
    /// Inserts a document (uniqueness checked) and logs it: committed at once outside a transaction
    /// (undo registered in a batch), an uncommitted version inside one.
    /// </summary>
    public void InsertDocument(WriteContext ctx, Collection collection, byte[] raw, BsonValue? id)
    {
        CheckCreator(ctx, collection);
        Validate(ctx, collection, raw, null);
        if (ctx.Reader is { } txn)
        {
            var key = id ?? throw CommandException.BadValue("a document inserted in a transaction needs an _id");
            RequireVersioned(collection);
            CheckTransactionalInsert(txn, collection, key);
            CheckUniqueInTransaction(txn, collection, key, RawBson.Decode(raw));
            Stage(txn, collection, key, raw, null);
            LogCrud(ctx, "i", collection, raw, []);
            return;
        }
        if (collection.HasPending && id is not null)
        {
            GuardCommittedWrite(collection, id, () => RawBson.Decode(raw));
        }
        collection.CheckUnique(id, () => RawBson.Decode(raw), null);
        if (_open.Count > 0 && id is not null && collection.Database != "local")
        {
            RecordPrior(collection, id, null);
        }
        var stored = collection.Insert(raw, id);
        if (collection.Database != "local")
        {
            // Retryable-write inserts carry o2 {_id} (as in the fixtures); plain inserts have no o2.
            ReadOnlySpan<byte> o2 = ctx.Retryable is not null && id is not null ? RawBson.IdDocument(id) : [];
            LogCrud(ctx, "i", collection, raw, o2);
        }
        ctx.Transaction?.Undo.Add(() => collection.Delete(stored));
    }

    public void ReplaceDocument(WriteContext ctx, Collection collection, DocumentVersion target, byte[] newRaw, BsonDocument decodedNew, ReadOnlySpan<byte> o)
    {
        var id = target.Id ?? BsonNull.Value;
        Validate(ctx, collection, newRaw, target.Stored?.Raw);
        if (ctx.Reader is { } txn)
        {
            RequireVersioned(collection);
            CheckTransactionalWrite(txn, collection, id);
            CheckUniqueInTransaction(txn, collection, id, decodedNew);
            Stage(txn, collection, id, newRaw, decodedNew);
            LogCrud(ctx, "u", collection, o, RawBson.IdDocument(id));
            return;
        }
        var stored = target.Stored ?? throw new InvalidOperationException("a committed write needs the stored document");
        if (collection.HasPending)
        {
            GuardCommittedWrite(collection, id, () => decodedNew);
        }
        collection.CheckUnique(stored.Id, () => decodedNew, stored);
        byte[] oldRaw = stored.Raw;
        if (_open.Count > 0 && stored.Id is not null)
        {
            RecordPrior(collection, stored.Id, stored);
        }
        collection.Replace(stored, newRaw, decodedNew);
        LogCrud(ctx, "u", collection, o, RawBson.IdDocument(id));
        ctx.Transaction?.Undo.Add(() =>
        {
            var current = stored.Id is not null ? collection.FindById(stored.Id) ?? stored : stored;
            collection.Replace(current, oldRaw);
        });
    }

    /// <summary>
    /// The collection's validator, as MongoDB applies it: a query filter the new document must match, unless the command
    /// bypasses validation, the level is off or the action warn; with level moderate an update of a document that
    /// already failed it is not checked. A validator the filter engine does not know ($jsonSchema, $expr) fails loudly.
    /// </summary>
    private static void Validate(WriteContext ctx, Collection collection, byte[] raw, byte[]? before)
    {
        if (ctx.BypassDocumentValidation || !collection.Options.TryGetValue("validator", out var value) || value is not BsonDocument { ElementCount: > 0 } validator)
        {
            return;
        }
        string level = collection.Options.TryGetValue("validationLevel", out var l) ? l.AsString : "strict";
        string action = collection.Options.TryGetValue("validationAction", out var a) ? a.AsString : "error";
        if (level == "off" || action == "warn")
        {
            return;
        }
        var filter = Query.Filter.Parse(validator);
        if (level == "moderate" && before is not null && !filter.Matches(RawBson.Decode(before)))
        {
            return;
        }
        if (!filter.Matches(RawBson.Decode(raw)))
        {
            throw new CommandException(121, "DocumentValidationFailure", $"Document failed validation of {collection.FullName}");
        }
    }

    public void DeleteDocument(WriteContext ctx, Collection collection, DocumentVersion target)
    {
        var id = target.Id ?? BsonNull.Value;
        if (ctx.Reader is { } txn)
        {
            RequireVersioned(collection);
            CheckTransactionalWrite(txn, collection, id);
            Stage(txn, collection, id, null, null);
            LogCrud(ctx, "d", collection, RawBson.IdDocument(id), []);
            return;
        }
        var stored = target.Stored ?? throw new InvalidOperationException("a committed delete needs the stored document");
        if (collection.HasPending)
        {
            GuardCommittedWrite(collection, id, null);
        }
        if (_open.Count > 0 && stored.Id is not null)
        {
            RecordPrior(collection, stored.Id, stored);
        }
        collection.Delete(stored);
        LogCrud(ctx, "d", collection, RawBson.IdDocument(id), []);
        ctx.Transaction?.Undo.Add(() => collection.Restore(stored));
    }

    /// <summary>
    /// Checks, before a statement changes anything, that every target is writable: inside a
    /// transaction a conflict fails with WriteConflict; outside one, a target held by an open
    /// transaction blocks the statement (it waits and runs again).
    /// </summary>
    public void CheckWritable(WriteContext ctx, Collection collection, IEnumerable<BsonValue?> ids)
    {
        CheckCreator(ctx, collection);
        if (ctx.Reader is { } txn)
        {
            RequireVersioned(collection);
            foreach (var id in ids)
            {
                CheckTransactionalWrite(txn, collection, id ?? BsonNull.Value);
            }
            return;
        }
        if (!collection.HasPending)
        {
            return;
        }
        foreach (var id in ids)
        {
            if (id is not null)
            {
                GuardCommittedWrite(collection, id, null);
            }
        }
    }

    /// <summary>DDL on a collection an open transaction has written waits for it (the server's collection lock).</summary>
    public void CheckNoPendingWrites(WriteContext ctx, Collection collection)
    {
        CheckCreator(ctx, collection);
        foreach (var write in collection.PendingWrites.ToList())
        {
            if (!ReferenceEquals(write.Owner, ctx.Reader) && Holder(write) is { } holder)
            {
                throw new TransactionBlockedException(holder);
            }
        }
    }

    /// <summary>
    /// A collection created by another open transaction: its writes wait for that transaction (a
    /// transactional writer conflicts), so an abort that removes the collection never drops their data.
    /// </summary>
    private void CheckCreator(WriteContext ctx, Collection collection)
    {
        if (collection.CreatedBy is not { IsOpen: true } creator || ReferenceEquals(creator, ctx.Reader))
        {
            return;
        }
        if (creator.ExpiresAt <= Clock.GetUtcNow())
        {
            AbortTransaction(creator); // removes the collection: the step runs again and creates its own
        }
        else if (ctx.Reader is not null)
        {
            throw CommandException.WriteConflict();
        }
        throw new TransactionBlockedException(creator);
    }

    private static void RequireVersioned(Collection collection)
    {
        if (collection.IsCapped)
        {
            throw new CommandException(263, "OperationNotSupportedInTransaction",
                $"Collection '{collection.FullName}' is a capped collection. Writes in transactions are not allowed on capped collections.");
        }
        if (!collection.HasIdIndex)
        {
            throw CommandException.NotImplemented($"transactional writes to a collection without an _id index ({collection.FullName})");
        }
    }

    private void RecordPrior(Collection collection, BsonValue id, StoredDocument? before)
    {
        if (!collection.HasIdIndex)
        {
            return; // versions are found by _id; without its index a transaction reads the newest (0204)
        }
        collection.RecordPrior(id, before, ++CommitSequence);
        _versioned.Add(collection);
    }

    /// <summary>A transactional write to an existing document: nobody else holds it, nobody committed it after the snapshot.</summary>
    private void CheckTransactionalWrite(Transaction txn, Collection collection, BsonValue id)
    {
        if (collection.PendingFor(id) is { } held && !ReferenceEquals(held.Owner, txn) && Holder(held) is not null)
        {
            throw CommandException.WriteConflict();
        }
        if (collection.ChangedAfter(id, txn.Snapshot))
        {
            throw CommandException.WriteConflict();
        }
    }

    private void CheckTransactionalInsert(Transaction txn, Collection collection, BsonValue id)
    {
        CheckTransactionalWrite(txn, collection, id);
        if (collection.Visible(id, txn) is not null)
        {
            throw collection.DuplicateKey("_id_", "{ _id: " + id.ToJson() + " }");
        }
    }

    /// <summary>Unique secondary keys of a transaction's new version against its own view, other transactions and later commits.</summary>
    private void CheckUniqueInTransaction(Transaction txn, Collection collection, BsonValue id, BsonDocument doc)
    {
        foreach (var index in collection.Indexes)
        {
            if (!index.EnforcesUniqueness || index.KeyOf(doc) is not { } key)
            {
                continue;
            }
            if (index.Conflict(key, null) is { Id: { } otherId } && !BsonOrder.Instance.Equals(otherId, id))
            {
                var held = collection.PendingFor(otherId);
                if (held is not null && ReferenceEquals(held.Owner, txn))
                {
                    // The transaction rewrote that document: its own version decides (checked below).
                }
                else if ((held is not null && Holder(held) is not null) || collection.ChangedAfter(otherId, txn.Snapshot))
                {
                    throw CommandException.WriteConflict();
                }
                else
                {
                    throw collection.DuplicateKey(index.Name, index.Describe(key));
                }
            }
            foreach (var write in collection.PendingWrites.ToList())
            {
                if (write.Decoded is not { } other || BsonOrder.Instance.Equals(write.Id, id) || index.KeyOf(other) is not { } otherKey || !BsonOrder.Instance.Equals(otherKey, key))
                {
                    continue;
                }
                if (ReferenceEquals(write.Owner, txn))
                {
                    throw collection.DuplicateKey(index.Name, index.Describe(key));
                }
                if (Holder(write) is not null)
                {
                    throw CommandException.WriteConflict();
                }
            }
        }
    }

    /// <summary>A committed write to a document (or unique key) an open transaction holds is blocked until it ends.</summary>
    private void GuardCommittedWrite(Collection collection, BsonValue id, Func<BsonDocument>? decoded)
    {
        if (collection.PendingFor(id) is { } held && Holder(held) is { } holder)
        {
            throw new TransactionBlockedException(holder);
        }
        if (decoded is null || !collection.Indexes.Any(i => i.EnforcesUniqueness))
        {
            return;
        }
        var doc = decoded();
        foreach (var index in collection.Indexes)
        {
            if (!index.EnforcesUniqueness || index.KeyOf(doc) is not { } key)
            {
                continue;
            }
            // The committed owner of the key is giving it up in an open transaction: that outcome decides.
            if (index.Conflict(key, null) is { Id: { } ownerId } && !BsonOrder.Instance.Equals(ownerId, id)
                && collection.PendingFor(ownerId) is { } rewriting
                && (rewriting.Decoded is not { } rewritten || index.KeyOf(rewritten) is not { } kept || !BsonOrder.Instance.Equals(kept, key))
                && Holder(rewriting) is { } ownerHolder)
            {
                throw new TransactionBlockedException(ownerHolder);
            }
            foreach (var write in collection.PendingWrites.ToList())
            {
                if (write.Decoded is { } other && !BsonOrder.Instance.Equals(write.Id, id) && index.KeyOf(other) is { } otherKey
                    && BsonOrder.Instance.Equals(otherKey, key) && Holder(write) is { } keyHolder)
                {
                    throw new TransactionBlockedException(keyHolder);
                }
            }
        }
    }

    private static void Stage(Transaction txn, Collection collection, BsonValue id, byte[]? raw, BsonDocument? decoded)
    {
        var write = collection.PendingFor(id);
        if (write is null)
        {
            write = new PendingWrite(txn, collection, id, collection.FindById(id)) { Order = txn.Writes.Count };
            collection.AddPending(write);
            txn.Writes.Add(write);
        }
        write.Set(raw, decoded);
    }

    public void DropCollection(WriteContext ctx, Collection collection)
    {
        if (collection.Database == "local" && collection.Name == "oplog.rs")
        {
            throw new CommandException(20, "IllegalOperation", "cannot drop local.oplog.rs");
        }
        CheckNoPendingWrites(ctx, collection);
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

    /// <summary>
    /// Commits a client transaction: its versions become the committed ones and its oplog entry
    /// (one applyOps, or a partialTxn chain over the size limit) is appended, under one lock hold,
    /// so a reader sees both or neither.
    /// </summary>
    public void CommitTransaction(Transaction txn)
    {
        if (!txn.IsOpen)
        {
            return;
        }
        ApplyWrites(txn);
        txn.Committed = true;
        WriteTransactionEntries(txn);
        txn.Operations.Clear();
        txn.Undo.Clear();
        EndTransaction(txn);
    }

    private void ApplyWrites(Transaction txn)
    {
        if (txn.Writes.Count == 0)
        {
            return;
        }
        bool othersOpen = _open.Count > 1;
        long sequence = ++CommitSequence;
        foreach (var write in txn.Writes)
        {
            var collection = write.Collection;
            collection.RemovePending(write);
            if (Catalog.Find(collection.Database, collection.Name) != collection)
            {
                continue; // dropped by this transaction's own DDL
            }
            var current = collection.FindById(write.Id);
            if (othersOpen && (current is not null || write.Raw is not null))
            {
                collection.RecordPrior(write.Id, current, sequence);
                _versioned.Add(collection);
            }
            if (write.Raw is null)
            {
                if (current is not null)
                {
                    collection.Delete(current);
                }
            }
            else if (current is null)
            {
                collection.Insert(write.Raw, write.Id);
            }
            else
            {
                collection.Replace(current, write.Raw, write.Decoded);
            }
        }
        txn.Writes.Clear();
    }

    private void WriteTransactionEntries(Transaction txn)
    {
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
    }

    /// <summary>
    /// Test-only prepared transaction (decision 0412): <paramref name="links"/> applyOps entries linked by
    /// prevOpTime (partialTxn, the last with prepare: true) inserting <paramref name="documents"/> into
    /// <paramref name="ns"/>, and its config.transactions record {state: "prepared", startOpTime} as a
    /// shard's primary writes them at prepare. Only the oplog and config.transactions change: the documents
    /// are not applied to <paramref name="ns"/>.
    /// </summary>
    public PreparedTransaction AppendPreparedTransaction(string ns, IReadOnlyList<BsonDocument> documents, int links)
    {
        if (links < 1 || links > documents.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(links), links, "a prepared transaction needs 1 to documents.Count entries");
        }
        var session = new SessionInfo(new BsonDocument("id", new BsonBinaryData(Guid.NewGuid(), GuidRepresentation.Standard)), 1);
        long prevTs = 0, prevTerm = -1, firstTs = 0;
        int perLink = (documents.Count + links - 1) / links;
        for (int i = 0; i < links; i++)
        {
            bool last = i == links - 1;
            var ops = documents.Skip(i * perLink).Take(last ? int.MaxValue : perLink)
                .Select(d => EntryWriter.InnerOp("i", ns, null, d.ToBson(), [])).ToList();
            long ts = Oplog.NextTimestamp();
            Oplog.Append(EntryWriter.TransactionEntry(session, ops, partial: !last, count: last && links > 1 ? documents.Count : null,
                ts, Oplog.Term, Oplog.WallMilliseconds, prevTs, prevTerm, prepare: last), ts);
            firstTs = i == 0 ? ts : firstTs;
            prevTs = ts;
            prevTerm = Oplog.Term;
        }
        var prepared = new PreparedTransaction(session, firstTs, prevTs);
        WriteTransactionRecord(prepared, prevTs, "prepared");
        return prepared;
    }

    /// <summary>Logs the commitTransaction entry of a prepared transaction and marks its config.transactions record committed.</summary>
    public long CommitPreparedTransaction(PreparedTransaction prepared)
    {
        long ts = Oplog.NextTimestamp();
        var o = new BsonDocument { { "commitTransaction", 1 }, { "commitTimestamp", new BsonTimestamp(prepared.PrepareTs) } };
        Oplog.Append(EntryWriter.TransactionCommandEntry(prepared.Session, o.ToBson(), ts, Oplog.Term, Oplog.WallMilliseconds, prepared.PrepareTs, Oplog.Term), ts);
        WriteTransactionRecord(prepared, ts, "committed");
        return ts;
    }

    private void WriteTransactionRecord(PreparedTransaction prepared, long lastWriteTs, string state)
    {
        var transactions = Catalog.Find("config", "transactions");
        if (transactions is null)
        {
            transactions = new Collection("config", "transactions", Guid.NewGuid(), new BsonDocument(), idIndex: true);
            Catalog.Add(transactions);
        }
        var record = new BsonDocument
        {
            { "_id", RawBson.Decode(prepared.Session.OplogLsid) },
            { "txnNum", prepared.Session.TxnNumber },
            { "lastWriteOpTime", new BsonDocument { { "ts", new BsonTimestamp(lastWriteTs) }, { "t", Oplog.Term } } },
            { "lastWriteDate", new BsonDateTime(DateTimeOffset.FromUnixTimeMilliseconds(Oplog.WallMilliseconds).UtcDateTime) },
            { "state", state },
        };
        if (state == "prepared")
        {
            record.Add("startOpTime", new BsonDocument { { "ts", new BsonTimestamp(prepared.FirstTs) }, { "t", Oplog.Term } });
        }
        var existing = transactions.FindById(record["_id"]);
        if (existing is null)
        {
            transactions.Insert(record.ToBson(), record["_id"]);
        }
        else
        {
            transactions.Replace(existing, record.ToBson(), record);
        }
    }
}
