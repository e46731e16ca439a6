using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;
using WapBackup.Testing.Mongo.Query;

namespace WapBackup.Testing.Mongo.Storage;

/// <summary>An index as created (spec kept verbatim for listIndexes); unique ones keep a key map to enforce uniqueness.</summary>
public sealed class IndexDefinition
{
    private readonly Dictionary<BsonValue, StoredDocument>? _unique;
    private readonly string[][] _paths;

    public IndexDefinition(BsonDocument spec)
    {
        Spec = spec;
        Name = spec["name"].AsString;
        Key = spec["key"].AsBsonDocument;
        Unique = spec.TryGetValue("unique", out var u) && u.ToBoolean();
        Sparse = spec.TryGetValue("sparse", out var s) && s.ToBoolean();
        _paths = Key.Names.Select(n => n.Split('.')).ToArray();
        if (Unique && Name != "_id_")
        {
            _unique = new Dictionary<BsonValue, StoredDocument>(BsonOrder.Instance);
        }
    }

    public string Name { get; }

    public BsonDocument Key { get; }

    /// <summary>The spec as listIndexes shows it: v, key, name, then options.</summary>
    public BsonDocument Spec { get; }

    public bool Unique { get; }

    public bool Sparse { get; }

    public bool EnforcesUniqueness => _unique is not null;

    /// <summary>The key of a document, or null when a sparse index skips it.</summary>
    public BsonValue? KeyOf(BsonDocument doc)
    {
        var values = new BsonArray(_paths.Length);
        bool any = false;
        foreach (var path in _paths)
        {
            var found = PathValues.Collect(doc, path);
            any |= found.Count > 0;
            values.Add(found.Count > 0 ? found[0] : BsonNull.Value);
        }
        return Sparse && !any ? null : values;
    }

    public StoredDocument? Conflict(BsonValue key, StoredDocument? self)
    {
        if (_unique is not null && _unique.TryGetValue(key, out var other) && !ReferenceEquals(other, self))
        {
            return other;
        }
        return null;
    }

    public void Add(BsonValue key, StoredDocument doc) => _unique![key] = doc;

    public void Remove(BsonValue key, StoredDocument doc)
    {
        if (_unique!.TryGetValue(key, out var current) && ReferenceEquals(current, doc))
        {
            _unique.Remove(key);
        }
    }

    public void Clear() => _unique?.Clear();

    /// <summary>{field: value, ...} for a duplicate-key message.</summary>
    public string Describe(BsonValue key)
    {
        var parts = Key.Names.Zip(key.AsBsonArray, (n, v) => $"{n}: {v.ToJson()}");
        return "{ " + string.Join(", ", parts) + " }";
    }
}
