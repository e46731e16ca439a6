using System.Collections.Concurrent;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Ddt.Capture;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Mirror;

/// <summary>
/// mongos targets (no applyOps): every entry becomes CRUD with the server's oplog-application
/// semantics. Updates are never translated operator by operator: the pre-image is read, the exact
/// post-image computed client side (replacement, <c>$v: 1</c>, <c>$v: 2</c>) and written with a
/// replace filtered on <c>o2</c> (<c>_id</c> plus the shard key). Inserts are upserts on <c>_id</c>,
/// deletes of missing documents are no-ops, as in oplog application. A transaction applies inside a
/// driver transaction on the target, so it lands whole or not at all.
/// </summary>
internal sealed class CrudTarget : IMirrorTarget
{
    private readonly IMongoClient _client;
    private readonly MirrorStats _stats;
    private readonly ConcurrentDictionary<string, IMongoCollection<RawBson>> _collections = new(StringComparer.Ordinal);
    private bool _transactionsRefused; // learnt once per applier: the target has no transactions

    // Every write bypasses the collection's validator: the source accepted these documents (bypassed, or older than it).
    private static readonly InsertOneOptions Insert = new() { BypassDocumentValidation = true };
    private static readonly ReplaceOptions Replace = new() { BypassDocumentValidation = true };
    private static readonly ReplaceOptions Upsert = new() { IsUpsert = true, BypassDocumentValidation = true };

    public CrudTarget(IMongoClient client, MirrorStats stats)
    {
        _client = client;
        _stats = stats;
    }

    public async Task ApplyAsync(IReadOnlyList<ReplayOperation> operations, CancellationToken cancellationToken)
    {
        for (int i = 0; i < operations.Count; i++)
        {
            try
            {
                await ApplyOneAsync(operations[i], null, cancellationToken).ConfigureAwait(false);
            }
            catch (MongoServerException e) when (MirrorErrors.IsDuplicateKey(e))
            {
                throw MirrorErrors.Conflict(i, operations[i], e);
            }
            _stats.Count(operations[i].Entry.Operation);
        }
    }

    public async Task ApplyTransactionAsync(IReadOnlyList<ReplayOperation> all, CancellationToken cancellationToken)
    {
        var operations = await WithoutReappliedCreatesAsync(all, cancellationToken).ConfigureAwait(false);
        if (operations.Count == 0)
        {
            return;
        }
        if (!_transactionsRefused)
        {
            using var session = await _client.StartSessionAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            int current = 0;
            try
            {
                // The driver's own loop retries TransientTransactionError and UnknownTransactionCommitResult.
                await session.WithTransactionAsync(async (s, ct) =>
                {
                    for (current = 0; current < operations.Count; current++)
                    {
                        await ApplyOneAsync(operations[current], s, ct).ConfigureAwait(false);
                    }
                    return true;
                }, cancellationToken: cancellationToken).ConfigureAwait(false);
                Count(operations);
                return;
            }
            catch (MongoCommandException e) when (e.Code == MirrorErrors.IllegalOperation && e.Message.Contains("Transaction", StringComparison.OrdinalIgnoreCase))
            {
                // A standalone target has no transactions: apply in order (decision 0431 says what that guarantees).
                _transactionsRefused = true;
            }
            catch (MongoServerException e) when (MirrorErrors.IsDuplicateKey(e))
            {
                throw MirrorErrors.Conflict(current, operations[Math.Min(current, operations.Count - 1)], e).Persisting();
            }
            catch (MongoServerException e)
            {
                throw new MirrorApplyException(
                    $"transaction of {operations.Count} operations (first at ts {operations[0].Timestamp}) not applied: " +
                    $"{MirrorErrors.Describe(operations[Math.Min(current, operations.Count - 1)])} failed: {e.Message}", e);
            }
        }
        for (int i = 0; i < operations.Count; i++)
        {
            try
            {
                await ApplyOneAsync(operations[i], null, cancellationToken).ConfigureAwait(false);
            }
            catch (MongoServerException e) when (MirrorErrors.IsDuplicateKey(e))
            {
                throw MirrorErrors.Conflict(i, operations[i], e).Persisting();
            }
        }
        Count(operations);
    }

    /// <summary>
    /// Leaves out a transaction's <c>create</c> whose collection the target already has: on the source it did
    /// not exist then, so this is the same transaction re-applied after a restart, and inside a driver
    /// transaction the NamespaceExists error would abort all of it.
    /// </summary>
    private async Task<IReadOnlyList<ReplayOperation>> WithoutReappliedCreatesAsync(IReadOnlyList<ReplayOperation> operations, CancellationToken cancellationToken)
    {
        List<ReplayOperation>? kept = null;
        for (int i = 0; i < operations.Count; i++)
        {
            var entry = operations[i].Entry;
            if (entry.CommandName == "create" && entry.Object!.Value.First() is { Type: BsonType.String } name)
            {
                string database = entry.Namespace[..entry.Namespace.IndexOf('.', StringComparison.Ordinal)];
                var options = new ListCollectionNamesOptions { Filter = new BsonDocument("name", name.AsString) };
                using var names = await _client.GetDatabase(database).ListCollectionNamesAsync(options, cancellationToken).ConfigureAwait(false);
                if (await names.AnyAsync(cancellationToken).ConfigureAwait(false))
                {
                    kept ??= [.. operations.Take(i)];
                    _stats.Count(OplogOperation.Command); // applied before the restart
                    continue;
                }
            }
            kept?.Add(operations[i]);
        }
        return kept ?? operations;
    }

    private void Count(IReadOnlyList<ReplayOperation> operations)
    {
        foreach (var operation in operations)
        {
            _stats.Count(operation.Entry.Operation);
        }
    }

    /// <summary>One operation, inside <paramref name="session"/>'s transaction when there is one.</summary>
    private async Task ApplyOneAsync(ReplayOperation operation, IClientSessionHandle? session, CancellationToken cancellationToken)
    {
        try
        {
            var entry = operation.Entry;
            switch (entry.Operation)
            {
                case OplogOperation.Insert:
                    await InsertAsync(entry, session, cancellationToken).ConfigureAwait(false);
                    break;
                case OplogOperation.Update:
                    await UpdateAsync(entry, session, cancellationToken).ConfigureAwait(false);
                    break;
                case OplogOperation.Delete:
                    var collection = Collection(entry.Namespace);
                    var id = Raw(entry.Object!.Value);
                    await (session is null
                        ? collection.DeleteOneAsync(id, cancellationToken)
                        : collection.DeleteOneAsync(session, id, cancellationToken: cancellationToken)).ConfigureAwait(false);
                    break;
                case OplogOperation.Command:
                    await CommandAsync(entry, session, cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    throw new MirrorApplyException($"{MirrorErrors.Describe(operation)}: not a CRUD or command operation");
            }
        }
        catch (MongoServerException e) when (MirrorErrors.IsDuplicateKey(e) || session is not null)
        {
            throw; // a conflict is the caller's to retry or stop on; inside a transaction every error aborts it whole
        }
        catch (MongoServerException e)
        {
            throw new MirrorApplyException($"applying {MirrorErrors.Describe(operation)} failed: {e.Message}", e);
        }
        catch (Exception e) when (e is UpdateApplicationException or FormatException)
        {
            throw new MirrorApplyException($"applying {MirrorErrors.Describe(operation)} failed: {e.Message}", e);
        }
    }

    private async Task InsertAsync(OplogEntry entry, IClientSessionHandle? session, CancellationToken cancellationToken)
    {
        var collection = Collection(entry.Namespace);
        byte[] document = entry.Object!.Value.Bytes.ToArray();
        if (session is not null)
        {
            // Inside a transaction a duplicate _id would abort it, so the upsert is the write itself;
            // o2 holds _id plus the shard key on sharded collections (mongos needs it for an upsert).
            var filter = entry.Object2 is { } o2 ? Raw(o2) : new BsonDocument("_id", entry.Object!.Value.Find("_id"u8).ToBsonValue());
            await collection.ReplaceOneAsync(session, filter, new RawBson(document), Upsert, cancellationToken).ConfigureAwait(false);
            return;
        }
        try
        {
            await collection.InsertOneAsync(new RawBson(document), Insert, cancellationToken).ConfigureAwait(false);
        }
        catch (MongoWriteException e) when (MirrorErrors.IsDuplicateKey(e) && MirrorErrors.IsIdIndex(e))
        {
            // Already there (re-applied after a restart): oplog inserts are upserts on _id.
            var id = new BsonDocument("_id", entry.Object!.Value.Find("_id"u8).ToBsonValue());
            await collection.ReplaceOneAsync(id, new RawBson(document), Replace, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task UpdateAsync(OplogEntry entry, IClientSessionHandle? session, CancellationToken cancellationToken)
    {
        var o2 = entry.Object2 ?? throw new FormatException("update without o2");
        var collection = Collection(entry.Namespace);
        var filter = Raw(o2);
        var find = session is null ? collection.Find(filter) : collection.Find(session, filter);
        var pre = await find.Limit(1).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        RawDocument preImage;
        if (pre is null)
        {
            // Oplog application upserts an update of a missing document; a later entry (or the
            // delete that follows) brings the copy back in line. Counted so it is never silent.
            _stats.CountMissingUpdated();
            preImage = new RawDocument(new BsonDocument("_id", o2.Find("_id"u8).ToBsonValue()).ToBson());
        }
        else
        {
            preImage = new RawDocument(pre.Bytes);
        }
        byte[] post = UpdateApplier.Apply(preImage, entry);
        var options = pre is null ? Upsert : Replace;
        await (session is null
            ? collection.ReplaceOneAsync(filter, new RawBson(post), options, cancellationToken)
            : collection.ReplaceOneAsync(session, filter, new RawBson(post), options, cancellationToken)).ConfigureAwait(false);
    }

    private async Task CommandAsync(OplogEntry entry, IClientSessionHandle? session, CancellationToken cancellationToken)
    {
        var o = entry.Object!.Value.ToBsonDocument();
        string command = o.GetElement(0).Name;
        string database = entry.Namespace[..entry.Namespace.IndexOf('.', StringComparison.Ordinal)];
        BsonDocument translated = command switch
        {
            // The oplog holds one index spec inline; the command takes a list.
            "createIndexes" => new BsonDocument { { "createIndexes", o[0] }, { "indexes", new BsonArray { Without(o, "createIndexes") } } },
            "commitIndexBuild" => new BsonDocument { { "createIndexes", o[0] }, { "indexes", o["indexes"] } },
            "create" => Without(o, "idIndex"),
            "drop" or "dropDatabase" or "collMod" or "dropIndexes" or "deleteIndexes" => o,
            "renameCollection" => Without(o, "stayTemp"),
            _ => throw new MirrorApplyException($"command '{command}' at ts {entry.Timestamp} cannot be translated for a mongos target"),
        };
        var target = _client.GetDatabase(command == "renameCollection" ? "admin" : database);
        try
        {
            await (session is null
                ? target.RunCommandAsync<BsonDocument>(translated, cancellationToken: cancellationToken)
                : target.RunCommandAsync<BsonDocument>(session, translated, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
        catch (MongoCommandException e) when (MirrorErrors.IsAlreadyApplied(command, e))
        {
        }
    }

    private IMongoCollection<RawBson> Collection(string ns) =>
        _collections.GetOrAdd(ns, n =>
        {
            int dot = n.IndexOf('.', StringComparison.Ordinal);
            if (dot <= 0 || dot == n.Length - 1)
            {
                throw new FormatException($"namespace '{n}' is not <db>.<collection>");
            }
            return _client.GetDatabase(n[..dot]).GetCollection<RawBson>(n[(dot + 1)..]);
        });

    private static RawBsonDocument Raw(RawDocument document) => new(document.Bytes.ToArray());

    private static BsonDocument Without(BsonDocument document, string name)
    {
        var copy = document.DeepClone().AsBsonDocument;
        copy.Remove(name);
        return copy;
    }
}
