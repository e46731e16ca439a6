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
    private int _head;
    private int _deleted;
    private long _sequence;

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

    /// <summary>Live documents in natural order from position <paramref name="start"/> (an index into the list).</summary>
    public IEnumerable<StoredDocument> Scan(int start = 0)
    {
        for (int i = Math.Max(start, _head); i < _docs.Count; i++)
        {
            var doc = _docs[i];
            if (!doc.Deleted)
            {
                yield return doc;
            }
        }
    }

    public IEnumerable<StoredDocument> ScanBackward()
    {
        for (int i = _docs.Count - 1; i >= _head; i--)
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

    public StoredDocument? Oldest => Scan().FirstOrDefault();

    public StoredDocument? Newest => ScanBackward().FirstOrDefault();

    public StoredDocument? FindById(BsonValue id) =>
        _byId is not null && _byId.TryGetValue(id, out var doc) ? doc : null;

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
