using MongoDB.Bson;
using MongoDB.Driver;

namespace WapBackup.Ddt.Mirror;

/// <summary>
/// Which target collections depend on the order of operations across documents (decision 1030): a unique
/// index other than <c>_id</c> (a key freed by one document and taken by another) or a capped collection
/// (insertion order is what it keeps). Their operations go to one worker, in oplog order.
/// </summary>
internal interface INamespaceOrderCatalog
{
    /// <summary>True when <paramref name="ns"/> is capped or has a unique (or <c>prepareUnique</c>) index other than <c>_id_</c>; a missing collection is neither.</summary>
    Task<bool> IsOrderSensitiveAsync(string ns, CancellationToken cancellationToken);
}

/// <summary>The target's own <c>listCollections</c> and <c>listIndexes</c>: what the replayed writes will actually meet.</summary>
internal sealed class TargetNamespaceOrderCatalog(IMongoClient target) : INamespaceOrderCatalog
{
    private const int CommandNotSupportedOnView = 166;

    public async Task<bool> IsOrderSensitiveAsync(string ns, CancellationToken cancellationToken)
    {
        int dot = ns.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || dot == ns.Length - 1)
        {
            return false; // not a collection's namespace
        }
        var database = target.GetDatabase(ns[..dot]);
        string name = ns[(dot + 1)..];
        using (var listed = await database.ListCollectionsAsync(new ListCollectionsOptions { Filter = new BsonDocument("name", name) }, cancellationToken).ConfigureAwait(false))
        {
            var info = await listed.FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
            if (info is null)
            {
                return false;
            }
            if (info.GetValue("options", new BsonDocument()) is BsonDocument options && options.GetValue("capped", false).ToBoolean())
            {
                return true;
            }
        }
        try
        {
            using var cursor = await database.GetCollection<BsonDocument>(name).Indexes.ListAsync(cancellationToken).ConfigureAwait(false);
            var indexes = await cursor.ToListAsync(cancellationToken).ConfigureAwait(false);
            return indexes.Any(IsUniqueSecondary);
        }
        catch (MongoCommandException e) when (e.Code is MirrorErrors.NamespaceNotFound or CommandNotSupportedOnView)
        {
            return false; // dropped in between, or a view (no writes of its own)
        }
    }

    private static bool IsUniqueSecondary(BsonDocument index) =>
        index.GetValue("name", "").AsString != "_id_"
        && (index.GetValue("unique", false).ToBoolean() || index.GetValue("prepareUnique", false).ToBoolean());
}
