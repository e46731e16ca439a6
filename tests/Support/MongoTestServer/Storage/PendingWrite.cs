using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;

namespace WapBackup.Testing.Mongo.Storage;

/// <summary>
/// The uncommitted version of one document written by an open transaction: invisible to everyone
/// else, the owner's write lock on the document until commit or abort (decision 0204).
/// </summary>
public sealed class PendingWrite
{
    private BsonDocument? _decoded;

    public PendingWrite(Transaction owner, Collection collection, BsonValue id, StoredDocument? committed)
    {
        Owner = owner;
        Collection = collection;
        Id = id;
        Committed = committed;
    }

    public Transaction Owner { get; }

    public Collection Collection { get; }

    public BsonValue Id { get; }

    /// <summary>The committed document this write replaces or deletes at commit; null when the transaction inserts it.</summary>
    public StoredDocument? Committed { get; }

    /// <summary>The transaction's version; null when the transaction deleted the document.</summary>
    public byte[]? Raw { get; private set; }

    /// <summary>Position among the owner's writes (natural order of its own inserts).</summary>
    public int Order { get; init; }

    public BsonDocument? Decoded => Raw is null ? null : _decoded ??= RawBson.Decode(Raw);

    public void Set(byte[]? raw, BsonDocument? decoded)
    {
        Raw = raw;
        _decoded = decoded;
    }
}
