using MongoDB.Bson;
using MongoDB.Driver;

namespace WapBackup.Ddt.Mirror;

/// <summary>Which target collections enforce uniqueness beyond <c>_id</c> (decision 1030: their operations go to one worker).</summary>
internal interface IUniqueIndexCatalog
{
    /// <summary>True when <paramref name="ns"/> has a unique (or <c>prepareUnique</c>) index other than <c>_id_</c>; a missing collection has none.</summary>
    Task<bool> HasUniqueSecondaryIndexAsync(string ns, CancellationToken cancellationToken);
}

/// <summary>The target's own <c>listIndexes</c>: what the replayed writes will actually meet.</summary>
internal sealed class TargetUniqueIndexCatalog(IMongoClient target) : IUniqueIndexCatalog
{
    private const int CommandNotSupportedOnView = 166;

    public async Task<bool> HasUniqueSecondaryIndexAsync(string ns, CancellationToken cancellationToken)
    {
        int dot = ns.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || dot == ns.Length - 1)
        {
            return false; // not a collection's namespace: nothing unique to order by
        }
        var collection = target.GetDatabase(ns[..dot]).GetCollection<BsonDocument>(ns[(dot + 1)..]);
        try
        {
            using var cursor = await collection.Indexes.ListAsync(cancellationToken).ConfigureAwait(false);
            var indexes = await cursor.ToListAsync(cancellationToken).ConfigureAwait(false);
            return indexes.Any(IsUniqueSecondary);
        }
        catch (MongoCommandException e) when (e.Code is MirrorErrors.NamespaceNotFound or CommandNotSupportedOnView)
        {
            return false;
        }
    }

    private static bool IsUniqueSecondary(BsonDocument index) =>
        index.GetValue("name", "").AsString != "_id_"
        && (index.GetValue("unique", false).ToBoolean() || index.GetValue("prepareUnique", false).ToBoolean());
}
