using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Mirror;

/// <summary>Where the applier stands: every entry through <see cref="AppliedThrough"/> is applied; open transactions are carried along.</summary>
public sealed record MirrorCheckpoint(OplogTimestamp AppliedThrough, BsonDocument Transactions);

/// <summary>
/// The applier's checkpoint, kept ON THE TARGET (database <c>wapbackup_mirror</c>) and written
/// after the entries it covers are applied there: what it claims is always on the target, so a
/// restart re-applies at most the entries since the last checkpoint, which oplog idempotence allows.
/// </summary>
public sealed class MirrorCheckpointStore
{
    public const string DatabaseName = "wapbackup_mirror";
    private readonly IMongoCollection<BsonDocument> _checkpoints;
    private readonly string _repositoryId;

    public MirrorCheckpointStore(IMongoClient target, string repositoryId)
    {
        _checkpoints = target.GetDatabase(DatabaseName).GetCollection<BsonDocument>("checkpoints")
            .WithWriteConcern(new WriteConcern(1, journal: true));
        _repositoryId = repositoryId;
    }

    public async Task<MirrorCheckpoint?> LoadAsync(CancellationToken cancellationToken)
    {
        var document = await _checkpoints.Find(new BsonDocument("_id", _repositoryId)).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        if (document is null)
        {
            return null;
        }
        return new MirrorCheckpoint(
            OplogTimestamp.FromValue((ulong)document["appliedThrough"].AsBsonTimestamp.Value),
            document["transactions"].AsBsonDocument);
    }

    public Task SaveAsync(MirrorCheckpoint checkpoint, CancellationToken cancellationToken) =>
        _checkpoints.ReplaceOneAsync(
            new BsonDocument("_id", _repositoryId),
            new BsonDocument
            {
                { "_id", _repositoryId },
                { "appliedThrough", new BsonTimestamp((long)checkpoint.AppliedThrough.Value) },
                { "transactions", checkpoint.Transactions },
            },
            new ReplaceOptions { IsUpsert = true },
            cancellationToken);
}
