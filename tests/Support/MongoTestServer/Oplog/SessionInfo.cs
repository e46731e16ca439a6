using MongoDB.Bson;

namespace WapBackup.Testing.Mongo.Oplog;

/// <summary>The lsid (with the server-added uid) and txnNumber a retryable write or transaction stamps on its entries.</summary>
public sealed record SessionInfo(BsonDocument Lsid, long TxnNumber)
{
    /// <summary>The lsid as the oplog shows it: {id, uid}.</summary>
    public byte[] OplogLsid { get; } = new BsonDocument
    {
        { "id", Lsid["id"] },
        { "uid", Lsid.TryGetValue("uid", out var uid) ? uid : new BsonBinaryData(OplogLog.UnauthenticatedUid) },
    }.ToBson();
}
