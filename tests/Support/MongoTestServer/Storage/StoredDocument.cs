using MongoDB.Bson;

namespace WapBackup.Testing.Mongo.Storage;

/// <summary>One document as stored: its raw BSON bytes, its _id (absent in the oplog) and its natural position.</summary>
public sealed class StoredDocument
{
    public StoredDocument(long sequence, byte[] raw, BsonValue? id, long orderKey)
    {
        Sequence = sequence;
        Raw = raw;
        Id = id;
        OrderKey = orderKey;
    }

    /// <summary>Insertion sequence: natural order and the resume point of tailable cursors.</summary>
    public long Sequence { get; }

    public byte[] Raw { get; set; }

    public BsonValue? Id { get; }

    /// <summary>In the oplog the entry's ts (as a signed 64-bit value); elsewhere the sequence.</summary>
    public long OrderKey { get; }

    public bool Deleted { get; set; }

    public BsonDocument Decode() => Bson.RawBson.Decode(Raw);
}
