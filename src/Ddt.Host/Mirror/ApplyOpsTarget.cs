using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Mirror;

/// <summary>
/// Replica-set targets: entries go to the server's own oplog application through the
/// <c>applyOps</c> command (as mongorestore --oplogReplay does), so every update format,
/// <c>$v: 2</c> diffs included, is applied by the server's exact code. Only op, ns, o and o2 are
/// sent: the source's collection UUIDs (<c>ui</c>) mean nothing on the target.
/// </summary>
internal sealed class ApplyOpsTarget : IMirrorTarget
{
    private readonly IMongoDatabase _admin;
    private readonly MirrorStats _stats;

    public ApplyOpsTarget(IMongoClient client, MirrorStats stats)
    {
        _admin = client.GetDatabase("admin");
        _stats = stats;
    }

    public async Task ApplyAsync(IReadOnlyList<ReplayOperation> operations, CancellationToken cancellationToken)
    {
        if (operations.Count == 0)
        {
            return;
        }
        if (operations.Count > 1)
        {
            var ops = new BsonArray(operations.Count);
            foreach (var operation in operations)
            {
                ops.Add(ToApplyOp(operation.Entry));
            }
            try
            {
                await _admin.RunCommandAsync<BsonDocument>(new BsonDocument("applyOps", ops), cancellationToken: cancellationToken).ConfigureAwait(false);
                foreach (var operation in operations)
                {
                    _stats.Count(operation.Entry.Operation);
                }
                return;
            }
            catch (MongoCommandException)
            {
                // One operation failed (a unique-index conflict, a re-applied create): apply them one
                // by one to count it and apply the rest. Oplog operations are idempotent, so
                // re-applying the ones that had succeeded is harmless.
            }
        }
        foreach (var operation in operations)
        {
            await ApplyOneAsync(operation, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ApplyOneAsync(ReplayOperation operation, CancellationToken cancellationToken)
    {
        try
        {
            await _admin.RunCommandAsync<BsonDocument>(new BsonDocument("applyOps", new BsonArray { ToApplyOp(operation.Entry) }), cancellationToken: cancellationToken).ConfigureAwait(false);
            _stats.Count(operation.Entry.Operation);
        }
        catch (MongoCommandException e) when (MirrorErrors.IsDuplicateKey(e))
        {
            _stats.Conflict(new UniqueIndexConflict(operation.Timestamp, operation.Entry.Namespace, e.Message));
        }
        catch (MongoCommandException e) when (operation.Entry.CommandName is { } command && MirrorErrors.IsAlreadyApplied(command, e))
        {
            _stats.Count(operation.Entry.Operation);
        }
        catch (MongoCommandException e)
        {
            throw new MirrorApplyException($"applyOps failed for {MirrorErrors.Describe(operation)}: {e.Message}", e);
        }
    }

    /// <summary>{op, ns, o, o2} copied as raw bytes.</summary>
    internal static RawBsonDocument ToApplyOp(in OplogEntry entry)
    {
        var writer = new RawBsonWriter(entry.Bytes.Length + 16);
        int mark = writer.BeginDocument();
        foreach (var name in Fields)
        {
            var element = entry.Document.Find(name);
            if (element.Exists)
            {
                writer.WriteElement(element);
            }
        }
        writer.EndDocument(mark);
        return new RawBsonDocument(writer.ToArray());
    }

    private static readonly byte[][] Fields = ["op"u8.ToArray(), "ns"u8.ToArray(), "o"u8.ToArray(), "o2"u8.ToArray()];
}
