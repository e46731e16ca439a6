using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Mirror;

/// <summary>
/// What the initial-sync rules did while the replay crossed a fuzzy full copy (decision 0721).
/// Each rule is counted: a copy that claims consistency says how much it had to forgive.
/// </summary>
public sealed class FuzzyCopyStats
{
    private long _updatesOfMissingSkipped, _insertsReplaced, _deletesOfMissing;

    /// <summary>Updates whose document the copy did not hold (deleted later on the source): skipped.</summary>
    public long UpdatesOfMissingSkipped => Interlocked.Read(ref _updatesOfMissingSkipped);

    /// <summary>Inserts of a document the copy already held (copied after the insert): replaced.</summary>
    public long InsertsReplaced => Interlocked.Read(ref _insertsReplaced);

    /// <summary>Deletes of a document the copy did not hold (never copied): nothing to do.</summary>
    public long DeletesOfMissing => Interlocked.Read(ref _deletesOfMissing);

    internal void CountUpdateOfMissing() => Interlocked.Increment(ref _updatesOfMissingSkipped);
    internal void CountInsertReplaced() => Interlocked.Increment(ref _insertsReplaced);
    internal void CountDeleteOfMissing() => Interlocked.Increment(ref _deletesOfMissing);
}

/// <summary>
/// Initial sync's rules for entries at or before <c>fuzzyThrough</c> (the full copy's end), the
/// wrapped target's strict rules after it. While the copy is fuzzy a document may be newer or older
/// than the entry, or gone: an update of a missing document is skipped, an insert of an existing one
/// replaces it, a delete of a missing one is fine. Every other entry, and everything after the copy
/// ended, goes to the wrapped target unchanged.
/// </summary>
internal sealed class FuzzyCopyTarget : IMirrorTarget
{
    private static readonly ReplaceOptions Upsert = new() { IsUpsert = true, BypassDocumentValidation = true };

    private readonly IMirrorTarget _strict;
    private readonly IMongoClient _client;
    private readonly OplogTimestamp _fuzzyThrough;
    private readonly FuzzyCopyStats _fuzzy;
    private readonly MirrorStats _stats;

    public FuzzyCopyTarget(IMirrorTarget strict, IMongoClient client, OplogTimestamp fuzzyThrough, FuzzyCopyStats fuzzy, MirrorStats stats)
    {
        _strict = strict;
        _client = client;
        _fuzzyThrough = fuzzyThrough;
        _fuzzy = fuzzy;
        _stats = stats;
    }

    public async Task ApplyAsync(IReadOnlyList<ReplayOperation> operations, CancellationToken cancellationToken)
    {
        int strictFrom = 0;
        for (int i = 0; i < operations.Count; i++)
        {
            if (!IsFuzzyDocumentOperation(operations[i]))
            {
                continue;
            }
            await ApplyStrictAsync(operations, strictFrom, i, cancellationToken).ConfigureAwait(false);
            try
            {
                await ApplyFuzzyAsync(operations[i], cancellationToken).ConfigureAwait(false);
            }
            catch (MongoServerException e) when (MirrorErrors.IsDuplicateKey(e) && !MirrorErrors.IsIdIndex(e))
            {
                throw MirrorErrors.Conflict(i, operations[i], e);
            }
            strictFrom = i + 1;
        }
        await ApplyStrictAsync(operations, strictFrom, operations.Count, cancellationToken).ConfigureAwait(false);
    }

    public async Task ApplyTransactionAsync(IReadOnlyList<ReplayOperation> operations, CancellationToken cancellationToken)
    {
        if (operations.Count == 0 || operations[0].Timestamp > _fuzzyThrough)
        {
            await _strict.ApplyTransactionAsync(operations, cancellationToken).ConfigureAwait(false);
            return;
        }
        // Inside the fuzzy range nothing is consistent yet: a transaction applies operation by
        // operation with the same rules (MongoDB's initial sync applies its oplog the same way).
        try
        {
            await ApplyAsync(operations, cancellationToken).ConfigureAwait(false);
        }
        catch (UniqueIndexConflictException conflict)
        {
            throw conflict.Persisting();
        }
    }

    private bool IsFuzzyDocumentOperation(in ReplayOperation operation) =>
        operation.Timestamp <= _fuzzyThrough
        && operation.Entry.Operation is OplogOperation.Insert or OplogOperation.Update or OplogOperation.Delete;

    private async Task ApplyStrictAsync(IReadOnlyList<ReplayOperation> operations, int from, int to, CancellationToken cancellationToken)
    {
        if (from >= to)
        {
            return;
        }
        var run = new ReplayOperation[to - from];
        for (int i = from; i < to; i++)
        {
            run[i - from] = operations[i];
        }
        try
        {
            await _strict.ApplyAsync(run, cancellationToken).ConfigureAwait(false);
        }
        catch (UniqueIndexConflictException conflict)
        {
            throw new UniqueIndexConflictException(from + conflict.Index, conflict.Operation, conflict.Key, conflict.InnerException!);
        }
    }

    private async Task ApplyFuzzyAsync(ReplayOperation operation, CancellationToken cancellationToken)
    {
        var entry = operation.Entry;
        var collection = CollectionOf(entry.Namespace);
        var o = entry.Object ?? throw new MirrorApplyException($"{MirrorErrors.Describe(operation)}: the entry has no 'o' document");
        switch (entry.Operation)
        {
            case OplogOperation.Insert:
                var document = o.ToBsonDocument();
                var replaced = await collection.ReplaceOneAsync(new BsonDocument("_id", document["_id"]), document, Upsert, cancellationToken).ConfigureAwait(false);
                if (replaced.MatchedCount > 0)
                {
                    _fuzzy.CountInsertReplaced();
                }
                _stats.Count(entry.Operation);
                break;
            case OplogOperation.Update:
                var filter = (entry.Object2 ?? throw new MirrorApplyException($"{MirrorErrors.Describe(operation)}: the update has no 'o2' document")).ToBsonDocument();
                if (await collection.Find(filter).Limit(1).CountDocumentsAsync(cancellationToken).ConfigureAwait(false) == 0)
                {
                    _fuzzy.CountUpdateOfMissing();
                    return;
                }
                await _strict.ApplyAsync([operation], cancellationToken).ConfigureAwait(false);
                break;
            case OplogOperation.Delete:
                var deleted = await collection.DeleteOneAsync(o.ToBsonDocument(), cancellationToken).ConfigureAwait(false);
                if (deleted.DeletedCount == 0)
                {
                    _fuzzy.CountDeleteOfMissing();
                }
                _stats.Count(entry.Operation);
                break;
        }
    }

    private IMongoCollection<BsonDocument> CollectionOf(string ns)
    {
        int dot = ns.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0)
        {
            throw new MirrorApplyException($"invalid namespace '{ns}' in a document operation");
        }
        return _client.GetDatabase(ns[..dot]).GetCollection<BsonDocument>(ns[(dot + 1)..]);
    }
}
