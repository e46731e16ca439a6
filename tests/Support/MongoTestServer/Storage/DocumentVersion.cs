using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;

namespace WapBackup.Testing.Mongo.Storage;

/// <summary>
/// The version of a document one reader sees: the committed document (Stored), or an older
/// committed version or the reader's own uncommitted version (Raw differs from Stored.Raw then).
/// A struct so the non-transactional read path allocates nothing for it.
/// </summary>
public readonly record struct DocumentVersion(StoredDocument? Stored, byte[] Raw, BsonValue? Id, long NaturalOrder)
{
    public static DocumentVersion Of(StoredDocument stored) => new(stored, stored.Raw, stored.Id, stored.Sequence);

    public BsonDocument Decode() => RawBson.Decode(Raw);
}

/// <summary>
/// A committed version superseded (or a document deleted/created) after some open transaction's
/// snapshot: Raw is the document as it was before the change at CommitSequence (null = absent).
/// </summary>
public readonly record struct PriorVersion(long CommitSequence, byte[]? Raw, long NaturalOrder);
