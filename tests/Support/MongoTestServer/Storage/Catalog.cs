using MongoDB.Bson;

namespace WapBackup.Testing.Mongo.Storage;

/// <summary>Databases and their collections by name. Callers hold <see cref="ServerState.Gate"/>.</summary>
public sealed class Catalog
{
    private readonly SortedDictionary<string, SortedDictionary<string, Collection>> _databases = new(StringComparer.Ordinal);

    public IEnumerable<string> DatabaseNames => _databases.Where(d => d.Value.Count > 0).Select(d => d.Key);

    public IEnumerable<Collection> CollectionsOf(string database) =>
        _databases.TryGetValue(database, out var collections) ? collections.Values : [];

    public Collection? Find(string database, string name) =>
        _databases.TryGetValue(database, out var collections) && collections.TryGetValue(name, out var c) ? c : null;

    public void Add(Collection collection)
    {
        if (!_databases.TryGetValue(collection.Database, out var collections))
        {
            collections = new SortedDictionary<string, Collection>(StringComparer.Ordinal);
            _databases[collection.Database] = collections;
        }
        collections.Add(collection.Name, collection);
    }

    public void Remove(Collection collection)
    {
        if (_databases.TryGetValue(collection.Database, out var collections))
        {
            collections.Remove(collection.Name);
            if (collections.Count == 0)
            {
                _databases.Remove(collection.Database);
            }
        }
    }

    public static void ValidateName(string database, string collection)
    {
        if (string.IsNullOrEmpty(database) || database.IndexOfAny(['/', '\\', '.', ' ', '"', '$', '\0']) >= 0 || database.Length > 63)
        {
            throw CommandException.InvalidNamespace($"Invalid database name: '{database}'");
        }
        if (string.IsNullOrEmpty(collection) || collection.Contains('\0') || collection.StartsWith('.') || collection.Contains('$'))
        {
            throw CommandException.InvalidNamespace($"Invalid collection name: '{collection}' (namespace {database}.{collection})");
        }
    }
}
