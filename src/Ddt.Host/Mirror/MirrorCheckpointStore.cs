using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Mirror;

/// <summary>
/// Where the applier stands: every entry through <see cref="AppliedThrough"/> is applied, except the
/// operations of <see cref="OpenTransactions"/>, which a resume rebuilds by re-reading the captured oplog
/// from the oldest one's first ts (positions only: a transaction chain can be far larger than a document).
/// </summary>
public sealed record MirrorCheckpoint(OplogTimestamp AppliedThrough, IReadOnlyList<OpenTransaction> OpenTransactions)
{
    /// <summary>Where a resume starts reading: the oldest open transaction's first entry, else just after <see cref="AppliedThrough"/>.</summary>
    public OplogTimestamp ReadAfter =>
        OpenTransactions.Count == 0 ? AppliedThrough : OplogTimestamp.FromValue(OpenTransactions.Min(t => t.FirstTimestamp).Value - 1);
}

/// <summary>
/// The applier's checkpoint, kept ON THE TARGET (database <c>wapbackup_mirror</c>) and written
/// after the entries it covers are applied there: what it claims is always on the target, so a
/// restart re-applies at most the entries since the last checkpoint, which oplog idempotence allows.
/// Document: <c>{_id: repositoryId, appliedThrough: Timestamp, open: [{lsid, txnNumber, firstTs}]}</c>.
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
        if (document.GetValue("open", BsonNull.Value) is not BsonArray open)
        {
            // The first format kept the buffered entries themselves; it cannot say where they started.
            throw new FormatException($"mirror checkpoint '{_repositoryId}': field 'open' must be an array of open transactions (an older format?); re-init the mirror");
        }
        var transactions = new List<OpenTransaction>(open.Count);
        for (int i = 0; i < open.Count; i++)
        {
            if (open[i] is not BsonDocument { } item || item.GetValue("lsid", BsonNull.Value) is not BsonDocument lsid
                || !item.GetValue("txnNumber", BsonNull.Value).IsNumeric || item.GetValue("firstTs", BsonNull.Value) is not BsonTimestamp first)
            {
                throw new FormatException($"mirror checkpoint '{_repositoryId}': open[{i}] must be {{lsid: document, txnNumber: number, firstTs: Timestamp}}");
            }
            transactions.Add(new OpenTransaction(lsid, item["txnNumber"].ToInt64(), OplogTimestamp.FromValue((ulong)first.Value)));
        }
        return new MirrorCheckpoint(OplogTimestamp.FromValue((ulong)document["appliedThrough"].AsBsonTimestamp.Value), transactions);
    }

    public Task SaveAsync(MirrorCheckpoint checkpoint, CancellationToken cancellationToken) =>
        _checkpoints.ReplaceOneAsync(
            new BsonDocument("_id", _repositoryId),
            new BsonDocument
            {
                { "_id", _repositoryId },
                { "appliedThrough", new BsonTimestamp((long)checkpoint.AppliedThrough.Value) },
                {
                    "open", new BsonArray(checkpoint.OpenTransactions.Select(t => new BsonDocument
                    {
                        { "lsid", t.SessionId },
                        { "txnNumber", t.TxnNumber },
                        { "firstTs", new BsonTimestamp((long)t.FirstTimestamp.Value) },
                    }))
                },
            },
            new ReplaceOptions { IsUpsert = true },
            cancellationToken);
}
