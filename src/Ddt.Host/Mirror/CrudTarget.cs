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
/// deletes of missing documents are no-ops, as in oplog application.
/// </summary>
internal sealed class CrudTarget : IMirrorTarget
{
    private readonly IMongoClient _client;
    private readonly MirrorStats _stats;
    private readonly ConcurrentDictionary<string, IMongoCollection<RawBson>> _collections = new(StringComparer.Ordinal);

    public CrudTarget(IMongoClient client, MirrorStats stats)
    {
        _client = client;
        _stats = stats;
    }

    public async Task ApplyAsync(IReadOnlyList<ReplayOperation> operations, CancellationToken cancellationToken)
    {
        foreach (var operation in operations)
        {
            try
            {
                await ApplyOneAsync(operation, cancellationToken).ConfigureAwait(false);
                _stats.Count(operation.Entry.Operation);
            }
            catch (MongoServerException e) when (MirrorErrors.IsDuplicateKey(e))
            {
                _stats.Conflict(new UniqueIndexConflict(operation.Timestamp, operation.Entry.Namespace, e.Message));
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
    }

    private async Task ApplyOneAsync(ReplayOperation operation, CancellationToken cancellationToken)
    {
        var entry = operation.Entry;
        switch (entry.Operation)
        {
            case OplogOperation.Insert:
                await InsertAsync(entry, cancellationToken).ConfigureAwait(false);
                break;
            case OplogOperation.Update:
                await UpdateAsync(entry, cancellationToken).ConfigureAwait(false);
                break;
            case OplogOperation.Delete:
                await Collection(entry.Namespace).DeleteOneAsync(Raw(entry.Object!.Value), cancellationToken).ConfigureAwait(false);
                break;
            case OplogOperation.Command:
                await CommandAsync(entry, cancellationToken).ConfigureAwait(false);
                break;
            default:
                throw new MirrorApplyException($"{MirrorErrors.Describe(operation)}: not a CRUD or command operation");
        }
    }

    private async Task InsertAsync(OplogEntry entry, CancellationToken cancellationToken)
    {
        var collection = Collection(entry.Namespace);
        byte[] document = entry.Object!.Value.Bytes.ToArray();
        try
        {
            await collection.InsertOneAsync(new RawBson(document), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (MongoWriteException e) when (MirrorErrors.IsDuplicateKey(e) && MirrorErrors.IsIdIndex(e))
        {
            // Already there (re-applied after a restart): oplog inserts are upserts on _id.
            var id = new BsonDocument("_id", entry.Object!.Value.Find("_id"u8).ToBsonValue());
            await collection.ReplaceOneAsync(id, new RawBson(document), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task UpdateAsync(OplogEntry entry, CancellationToken cancellationToken)
    {
        var o2 = entry.Object2 ?? throw new FormatException("update without o2");
        var collection = Collection(entry.Namespace);
        var filter = Raw(o2);
        var pre = await collection.Find(filter).Limit(1).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
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
        await collection.ReplaceOneAsync(filter, new RawBson(post), new ReplaceOptions { IsUpsert = pre is null }, cancellationToken).ConfigureAwait(false);
    }

    private async Task CommandAsync(OplogEntry entry, CancellationToken cancellationToken)
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
            await target.RunCommandAsync<BsonDocument>(translated, cancellationToken: cancellationToken).ConfigureAwait(false);
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
