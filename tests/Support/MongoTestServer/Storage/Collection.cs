using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;

namespace WapBackup.Testing.Mongo.Storage;

/// <summary>
/// One collection: raw documents in natural (insertion) order, an _id map, indexes, and capped
/// trimming. Callers hold the catalog lock.
/// </summary>
public sealed class Collection
{
    private readonly List<StoredDocument> _docs = [];
    private readonly Dictionary<BsonValue, StoredDocument>? _byId;
    // Versioning (decision 0204): both stay null until a transaction writes or a commit happens while one is open.
    private Dictionary<BsonValue, PendingWrite>? _pending;
    private Dictionary<BsonValue, List<PriorVersion>>? _history;
    private int _head;
    private int _deleted;
    private long _sequence;
    // Natural order is ascending _id order while every insert's _id is above the previous one's (IdBound scans).
    private bool _idAscending;
    private BsonValue? _lastId;

    public Collection(string database, string name, Guid uuid, BsonDocument options, bool idIndex)
    {
        Database = database;
        Name = name;
        Uuid = uuid;
        Options = options;
        IsCapped = options.TryGetValue("capped", out var c) && c.ToBoolean();
        if (IsCapped)
        {
            CappedSize = options.TryGetValue("size", out var s) ? s.ToInt64() : 4096;
            CappedMax = options.TryGetValue("max", out var m) && m.ToInt64() > 0 ? m.ToInt64() : null;
        }
        if (idIndex)
        {
            _byId = new Dictionary<BsonValue, StoredDocument>(BsonOrder.Instance);
            _idAscending = true;
            Indexes.Add(new IndexDefinition(new BsonDocument { { "v", 2 }, { "key", new BsonDocument("_id", 1) }, { "name", "_id_" } }));
        }
    }

    public string Database { get; }

    public string Name { get; private set; }

    public string FullName => Database + "." + Name;

    public Guid Uuid { get; }

    /// <summary>Creation options (capped, size, validator, collation, ...), as listCollections shows them.</summary>
    public BsonDocument Options { get; }

    public bool IsCapped { get; }

    public long CappedSize { get; set; }

    public long? CappedMax { get; set; }

    public List<IndexDefinition> Indexes { get; } = [];

    public long Count { get; private set; }

    public long DataBytes { get; private set; }

    public bool HasIdIndex => _byId is not null;

    /// <summary>The client transaction that created it (create is DDL applied eagerly; others wait for that transaction).</summary>
    public Transaction? CreatedBy { get; set; }

    /// <summary>Live documents in natural order from position <paramref name="start"/> (an index into the list).</summary>
    public IEnumerable<StoredDocument> Scan(int start = 0) => Scan(start, int.MaxValue);

    private IEnumerable<StoredDocument> Scan(int start, int end)
    {
        for (int i = Math.Max(start, _head); i < Math.Min(end, _docs.Count); i++)
        {
            var doc = _docs[i];
            if (!doc.Deleted)
            {
                yield return doc;
            }
        }
    }

    public IEnumerable<StoredDocument> ScanBackward() => ScanBackward(0, int.MaxValue);

    private IEnumerable<StoredDocument> ScanBackward(int start, int end)
    {
        for (int i = Math.Min(end, _docs.Count) - 1; i >= Math.Max(start, _head); i--)
        {
            if (!_docs[i].Deleted)
            {
                yield return _docs[i];
            }
        }
    }

    /// <summary>List position of the first document whose sequence is above <paramref name="sequence"/>.</summary>
    public int PositionAfterSequence(long sequence) => LowerBound(d => d.Sequence > sequence);

    /// <summary>List position of the first document whose order key (ts in the oplog) satisfies the test.</summary>
    public int PositionOfOrderKey(long key, bool inclusive) =>
        LowerBound(d => inclusive ? (ulong)d.OrderKey >= (ulong)key : (ulong)d.OrderKey > (ulong)key);

    /// <summary>
    /// Natural order is ascending _id order (<see cref="BsonOrder"/>): every insert's _id was above every
    /// earlier one's since the collection was created or emptied (the store's Timestamps, ObjectIds and
    /// counters). Deletes keep it, updates never change _id; one lower insert ends it until emptied.
    /// </summary>
    public bool NaturalOrderIsIdOrder => _idAscending;

    /// <summary>
    /// The live documents whose _id lies within the bounds (by <see cref="BsonOrder"/>, across type
    /// brackets: callers still apply their filter), in _id order or reversed; found by binary search.
    /// Only while <see cref="NaturalOrderIsIdOrder"/>.
    /// </summary>
    public IEnumerable<StoredDocument> ScanIdRange(IdBound? lower, IdBound? upper, bool reverse)
    {
        if (!_idAscending)
        {
            throw new InvalidOperationException($"{FullName}: natural order is not _id order, an _id range cannot be searched");
        }
        // Deleted documents stay listed in place (until compaction), so the whole list is in _id order.
        int start = lower is { } lo ? LowerBound(d => AtOrAfter(d, lo, lowerBound: true)) : _head;
        int end = upper is { } hi ? LowerBound(d => AtOrAfter(d, hi, lowerBound: false)) : _docs.Count;
        return reverse ? ScanBackward(start, end) : Scan(start, end);
    }

    /// <summary>For a lower bound: the document is inside (at or past the bound); for an upper bound: past its end.</summary>
    private static bool AtOrAfter(StoredDocument doc, IdBound bound, bool lowerBound)
    {
        int c = BsonOrder.Instance.Compare(doc.Id, bound.Value);
        return lowerBound == bound.Inclusive ? c >= 0 : c > 0;
    }

    /// <summary>
    /// The reader sees exactly the newest committed versions (<see cref="Committed"/>): it is no transaction,
    /// or one that wrote nothing here while no prior versions are kept here (decision 0204).
    /// </summary>
    public bool ReadsCommitted(Transaction? reader) =>
        reader is null || (!HasHistory && !PendingWrites.Any(w => ReferenceEquals(w.Owner, reader)));

    public StoredDocument? Oldest => Scan().FirstOrDefault();

    public StoredDocument? Newest => ScanBackward().FirstOrDefault();

    public StoredDocument? FindById(BsonValue id) =>
        _byId is not null && _byId.TryGetValue(id, out var doc) ? doc : null;

    /// <summary>Some open transaction holds an uncommitted version of a document of this collection.</summary>
    public bool HasPending => _pending is { Count: > 0 };

    public IEnumerable<PendingWrite> PendingWrites => _pending?.Values ?? (IEnumerable<PendingWrite>)[];

    public PendingWrite? PendingFor(BsonValue id) => _pending is not null && _pending.TryGetValue(id, out var w) ? w : null;

    public void AddPending(PendingWrite write) => (_pending ??= new Dictionary<BsonValue, PendingWrite>(BsonOrder.Instance)).Add(write.Id, write);

    public void RemovePending(PendingWrite write)
    {
        if (_pending is not null && _pending.TryGetValue(write.Id, out var current) && ReferenceEquals(current, write))
        {
            _pending.Remove(write.Id);
        }
    }

    public bool HasHistory => _history is { Count: > 0 };

    /// <summary>Remembers the version before a commit at <paramref name="commitSequence"/> for the open snapshots older than it.</summary>
    public void RecordPrior(BsonValue id, StoredDocument? before, long commitSequence)
    {
        _history ??= new Dictionary<BsonValue, List<PriorVersion>>(BsonOrder.Instance);
        if (!_history.TryGetValue(id, out var versions))
        {
            versions = [];
            _history[id] = versions;
        }
        versions.Add(new PriorVersion(commitSequence, before?.Raw, before?.Sequence ?? 0));
    }

    /// <summary>Forgets the prior versions no open snapshot can see (changes at or before <paramref name="oldestSnapshot"/>).</summary>
    public void TrimHistory(long oldestSnapshot)
    {
        if (_history is null)
        {
            return;
        }
        List<BsonValue>? empty = null;
        foreach (var (id, versions) in _history)
        {
            versions.RemoveAll(v => v.CommitSequence <= oldestSnapshot);
            if (versions.Count == 0)
            {
                (empty ??= []).Add(id);
            }
        }
        foreach (var id in empty ?? [])
        {
            _history.Remove(id);
        }
    }

    public void ClearHistory() => _history = null;

    /// <summary>A commit changed (inserted, updated, deleted) the document after the snapshot.</summary>
    public bool ChangedAfter(BsonValue id, long snapshot) =>
        _history is not null && _history.TryGetValue(id, out var versions) && versions[^1].CommitSequence > snapshot;

    /// <summary>The version of document <paramref name="id"/> the reader sees, or null when it sees none.</summary>
    public DocumentVersion? Visible(BsonValue id, Transaction? reader) => Visible(id, FindById(id), reader);

    private DocumentVersion? Visible(BsonValue id, StoredDocument? stored, Transaction? reader)
    {
        if (reader is not null)
        {
            if (PendingFor(id) is { } own && ReferenceEquals(own.Owner, reader))
            {
                return own.Raw is null ? null : new DocumentVersion(stored, own.Raw, id, stored?.Sequence ?? long.MaxValue / 2 + own.Order);
            }
            if (PriorAt(id, reader.Snapshot) is { } prior)
            {
                return prior.Raw is null ? null : new DocumentVersion(stored, prior.Raw, id, prior.NaturalOrder);
            }
        }
        return stored is null ? null : DocumentVersion.Of(stored);
    }

    /// <summary>
    /// Every document the reader sees, in natural order (reverse when asked): the newest committed
    /// versions for a non-transactional reader, else the reader's snapshot plus its own writes.
    /// </summary>
    public IEnumerable<DocumentVersion> Visible(Transaction? reader, bool reverse = false)
    {
        if (ReadsCommitted(reader))
        {
            return Committed(reverse);
        }
        var seen = new List<DocumentVersion>();
        bool reordered = false;
        foreach (var stored in Scan())
        {
            if (stored.Id is null)
            {
                seen.Add(DocumentVersion.Of(stored));
            }
            else if (Visible(stored.Id, stored, reader) is { } version)
            {
                seen.Add(version);
            }
        }
        // Documents deleted after the snapshot, and the reader's own inserts.
        foreach (var (id, _) in _history ?? [])
        {
            if (FindById(id) is null && Visible(id, reader) is { } version)
            {
                seen.Add(version);
                reordered = true;
            }
        }
        foreach (var write in PendingWrites)
        {
            if (ReferenceEquals(write.Owner, reader) && write.Raw is not null && FindById(write.Id) is null && PriorAt(write.Id, reader.Snapshot) is null)
            {
                seen.Add(new DocumentVersion(null, write.Raw, write.Id, long.MaxValue / 2 + write.Order));
                reordered = true;
            }
        }
        if (reordered)
        {
            seen = [.. seen.OrderBy(v => v.NaturalOrder)];
        }
        if (reverse)
        {
            seen.Reverse();
        }
        return seen;
    }

    private IEnumerable<DocumentVersion> Committed(bool reverse)
    {
        foreach (var stored in reverse ? ScanBackward() : Scan())
        {
            yield return DocumentVersion.Of(stored);
        }
    }

    /// <summary>The version before the first change after <paramref name="snapshot"/>, when there is one.</summary>
    private PriorVersion? PriorAt(BsonValue id, long snapshot)
    {
        if (_history is null || !_history.TryGetValue(id, out var versions))
        {
            return null;
        }
        foreach (var v in versions)
        {
            if (v.CommitSequence > snapshot)
            {
                return v;
            }
        }
        return null;
    }

    /// <summary>Throws DuplicateKey (11000) when <paramref name="doc"/> would collide on _id or a unique index.</summary>
    public void CheckUnique(BsonValue? id, Func<BsonDocument> decoded, StoredDocument? self)
    {
        if (_byId is not null && id is not null && _byId.TryGetValue(id, out var existing) && !ReferenceEquals(existing, self))
        {
            throw DuplicateKey("_id_", "{ _id: " + id.ToJson() + " }");
        }
        BsonDocument? doc = null;
        foreach (var index in Indexes)
        {
            if (!index.EnforcesUniqueness)
            {
                continue;
            }
            doc ??= decoded();
            var key = index.KeyOf(doc);
            if (key is not null && index.Conflict(key, self) is not null)
            {
                throw DuplicateKey(index.Name, index.Describe(key));
            }
        }
    }

    public CommandException DuplicateKey(string index, string key) =>
        new(11000, "DuplicateKey", $"E11000 duplicate key error collection: {FullName} index: {index} dup key: {key}");

    /// <summary>Appends a document (uniqueness already checked); trims the oldest when capped. Returns the trimmed ones.</summary>
    public StoredDocument Insert(byte[] raw, BsonValue? id, long? orderKey = null)
    {
        if (_idAscending)
        {
            // An array _id (MongoDB refuses them) would match range filters element-wise: no ordered scans then.
            if (id is null or BsonArray || (_lastId is not null && BsonOrder.Instance.Compare(id, _lastId) <= 0))
            {
                _idAscending = false;
                _lastId = null;
            }
            else
            {
                _lastId = id;
            }
        }
        long seq = ++_sequence;
        var stored = new StoredDocument(seq, raw, id, orderKey ?? seq);
        _docs.Add(stored);
        if (_byId is not null && id is not null)
        {
            _byId[id] = stored;
        }
        Count++;
        DataBytes += raw.Length;
        AddToUniqueIndexes(stored, null);
        if (IsCapped)
        {
            TrimCapped();
        }
        return stored;
    }

    public void Replace(StoredDocument stored, byte[] raw, BsonDocument? decoded = null)
    {
        if (Indexes.Any(i => i.EnforcesUniqueness))
        {
            RemoveFromUniqueIndexes(stored);
        }
        DataBytes += raw.Length - stored.Raw.Length;
        stored.Raw = raw;
        AddToUniqueIndexes(stored, decoded);
    }

    public void Delete(StoredDocument stored)
    {
        if (stored.Deleted)
        {
            return;
        }
        RemoveFromUniqueIndexes(stored);
        stored.Deleted = true;
        if (_byId is not null && stored.Id is not null)
        {
            _byId.Remove(stored.Id);
        }
        Count--;
        DataBytes -= stored.Raw.Length;
        _deleted++;
        if (_deleted > 1024 && _deleted > _docs.Count / 2)
        {
            Compact();
        }
    }

    /// <summary>Undoes <see cref="Delete"/> of this very document (transaction abort): back in its natural place when still listed.</summary>
    public StoredDocument Restore(StoredDocument stored)
    {
        if (!stored.Deleted)
        {
            return stored;
        }
        int at = PositionAfterSequence(stored.Sequence - 1);
        if (at < _docs.Count && ReferenceEquals(_docs[at], stored))
        {
            stored.Deleted = false;
            _deleted--;
            if (_byId is not null && stored.Id is not null)
            {
                _byId[stored.Id] = stored;
            }
            Count++;
            DataBytes += stored.Raw.Length;
            AddToUniqueIndexes(stored, null);
            return stored;
        }
        return Insert(stored.Raw, stored.Id);
    }

    /// <summary>Drops every document (keeps indexes): used by a drop undone in a transaction and by emptycapped-like resets.</summary>
    public void Truncate()
    {
        _docs.Clear();
        _byId?.Clear();
        foreach (var index in Indexes)
        {
            index.Clear();
        }
        _head = 0;
        _deleted = 0;
        Count = 0;
        DataBytes = 0;
        _idAscending = HasIdIndex;
        _lastId = null;
    }

    public void Rename(string newName) => Name = newName;

    /// <summary>Rebuilds a new unique index's key map, failing on existing duplicates.</summary>
    public void BuildIndex(IndexDefinition index)
    {
        if (!index.EnforcesUniqueness)
        {
            return;
        }
        foreach (var doc in Scan())
        {
            var key = index.KeyOf(doc.Decode());
            if (key is null)
            {
                continue;
            }
            if (index.Conflict(key, doc) is not null)
            {
                index.Clear();
                throw DuplicateKey(index.Name, index.Describe(key));
            }
            index.Add(key, doc);
        }
    }

    private void AddToUniqueIndexes(StoredDocument stored, BsonDocument? decoded)
    {
        foreach (var index in Indexes)
        {
            if (index.EnforcesUniqueness)
            {
                decoded ??= stored.Decode();
                var key = index.KeyOf(decoded);
                if (key is not null)
                {
                    index.Add(key, stored);
                }
            }
        }
    }

    private void RemoveFromUniqueIndexes(StoredDocument stored)
    {
        BsonDocument? decoded = null;
        foreach (var index in Indexes)
        {
            if (index.EnforcesUniqueness)
            {
                decoded ??= stored.Decode();
                var key = index.KeyOf(decoded);
                if (key is not null)
                {
                    index.Remove(key, stored);
                }
            }
        }
    }

    private void TrimCapped()
    {
        while (Count > 1 && (DataBytes > CappedSize || (CappedMax is long max && Count > max)))
        {
            var oldest = _docs[_head];
            if (!oldest.Deleted)
            {
                RemoveFromUniqueIndexes(oldest);
                oldest.Deleted = true;
                if (_byId is not null && oldest.Id is not null)
                {
                    _byId.Remove(oldest.Id);
                }
                Count--;
                DataBytes -= oldest.Raw.Length;
            }
            else
            {
                _deleted--;
            }
            _head++;
        }
        if (_head > 4096 && _head > _docs.Count / 2)
        {
            _docs.RemoveRange(0, _head);
            _head = 0;
        }
    }

    private void Compact()
    {
        var live = Scan().ToList();
        _docs.Clear();
        _docs.AddRange(live);
        _head = 0;
        _deleted = 0;
    }

    private int LowerBound(Func<StoredDocument, bool> isAtOrAfter)
    {
        int lo = _head, hi = _docs.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (isAtOrAfter(_docs[mid]))
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }
        return lo;
    }
}

/// <summary>One end of an _id range: the value and whether it is itself inside.</summary>
public readonly record struct IdBound(BsonValue Value, bool Inclusive);
