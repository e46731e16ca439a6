using System.Buffers.Binary;
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
    // Well under the 16 MiB command limit (the command adds its own fields around the ops).
    internal const int MaxCommandBytes = 8 * 1024 * 1024;

    private readonly IMongoDatabase _admin;
    private readonly MirrorStats _stats;

    public ApplyOpsTarget(IMongoClient client, MirrorStats stats)
    {
        _admin = client.GetDatabase("admin");
        _stats = stats;
    }

    public async Task ApplyAsync(IReadOnlyList<ReplayOperation> operations, CancellationToken cancellationToken)
    {
        int start = 0;
        foreach (var (chunk, ops) in Chunks(operations, 0, operations.Count))
        {
            if (chunk.Count > 1)
            {
                try
                {
                    await RunAsync(ops, cancellationToken).ConfigureAwait(false);
                    Count(chunk);
                    start += chunk.Count;
                    continue;
                }
                catch (MongoCommandException)
                {
                    // A worker's run is no transaction: apply it op by op to find the one that fails (a
                    // conflict is then retried by the applier, anything else stops). Oplog operations are
                    // idempotent, so re-applying the ones that had succeeded is harmless.
                }
            }
            for (int i = 0; i < chunk.Count; i++)
            {
                await ApplyOneAsync(start + i, chunk[i], cancellationToken).ConfigureAwait(false);
            }
            start += chunk.Count;
        }
    }

    public async Task ApplyTransactionAsync(IReadOnlyList<ReplayOperation> operations, CancellationToken cancellationToken)
    {
        // Runs of CRUD operations go as one applyOps each, which the server applies atomically (all
        // CRUD, allowAtomic by default); a command inside a transaction (create, createIndexes on a new
        // collection) runs alone, as the server's own applyOps would. A failure stops: never op by op.
        int index = 0;
        while (index < operations.Count)
        {
            if (operations[index].Entry.Operation == OplogOperation.Command)
            {
                try
                {
                    await ApplyOneAsync(index, operations[index], cancellationToken).ConfigureAwait(false);
                }
                catch (UniqueIndexConflictException conflict)
                {
                    throw conflict.Persisting();
                }
                index++;
                continue;
            }
            int end = index;
            while (end < operations.Count && operations[end].Entry.Operation != OplogOperation.Command)
            {
                end++;
            }
            foreach (var (chunk, ops) in Chunks(operations, index, end))
            {
                try
                {
                    await RunAsync(ops, cancellationToken).ConfigureAwait(false);
                }
                catch (MongoCommandException e)
                {
                    var failed = FailedOperation(e, chunk) ?? chunk[0];
                    string what = MirrorErrors.IsDuplicateKey(e)
                        ? MirrorErrors.PersistingConflict(failed, MirrorErrors.DuplicateKeyOf(e))
                        : $"applyOps failed for {MirrorErrors.Describe(failed)}: {e.Message}";
                    throw new MirrorApplyException(
                        $"transaction of {operations.Count} operations (first at ts {operations[0].Timestamp}) not applied: {what}; " +
                        "the mirror stops before it (re-applied whole at the next start)", e);
                }
            }
            index = end;
        }
        Count(operations);
    }

    private async Task ApplyOneAsync(int index, ReplayOperation operation, CancellationToken cancellationToken)
    {
        try
        {
            await RunAsync([ToApplyOp(operation.Entry)], cancellationToken).ConfigureAwait(false);
        }
        catch (MongoCommandException e) when (MirrorErrors.IsDuplicateKey(e))
        {
            throw MirrorErrors.Conflict(index, operation, e);
        }
        catch (MongoCommandException e) when (operation.Entry.CommandName is { } command && MirrorErrors.IsAlreadyApplied(command, e))
        {
        }
        catch (MongoCommandException e)
        {
            throw new MirrorApplyException($"applyOps failed for {MirrorErrors.Describe(operation)}: {e.Message}", e);
        }
        _stats.Count(operation.Entry.Operation);
    }

    private Task RunAsync(BsonArray ops, CancellationToken cancellationToken) =>
        // The copy holds what the source holds: documents it accepted (bypassed, or older than its validator) too.
        _admin.RunCommandAsync<BsonDocument>(new BsonDocument { { "applyOps", ops }, { "bypassDocumentValidation", true } }, cancellationToken: cancellationToken);

    private void Count(IReadOnlyList<ReplayOperation> operations)
    {
        for (int i = 0; i < operations.Count; i++)
        {
            _stats.Count(operations[i].Entry.Operation);
        }
    }

    /// <summary>operations[start..end) in runs of at most <see cref="MaxCommandBytes"/> (one operation per run at least).</summary>
    private static IEnumerable<(OperationRange Chunk, BsonArray Ops)> Chunks(IReadOnlyList<ReplayOperation> operations, int start, int end)
    {
        // Sized for the whole range (mostly one chunk): no regrowth per batch.
        int first = start;
        var ops = new BsonArray(end - start);
        long bytes = 0;
        for (int i = start; i < end; i++)
        {
            var op = ToApplyOp(operations[i].Entry);
            if (i > first && bytes + op.Slice.Length > MaxCommandBytes)
            {
                yield return (new OperationRange(operations, first, i - first), ops);
                first = i;
                ops = new BsonArray(end - i);
                bytes = 0;
            }
            ops.Add(op);
            bytes += op.Slice.Length;
        }
        if (end > first)
        {
            yield return (new OperationRange(operations, first, end - first), ops);
        }
    }

    /// <summary>The operation the reply's <c>results</c> marks as failed (the first <c>false</c>), when the server says.</summary>
    private static ReplayOperation? FailedOperation(MongoCommandException e, OperationRange chunk)
    {
        if (e.Result?.GetValue("results", BsonNull.Value) is BsonArray results)
        {
            for (int i = 0; i < results.Count && i < chunk.Count; i++)
            {
                if (results[i] is BsonBoolean { Value: false })
                {
                    return chunk[i];
                }
            }
        }
        return null;
    }

    /// <summary>{op, ns, o, o2} copied as raw bytes, into one array of the exact size (one per operation of a replay).</summary>
    internal static RawBsonDocument ToApplyOp(in OplogEntry entry)
    {
        int size = 4 + 1;
        foreach (var name in Fields)
        {
            var element = entry.Document.Find(name);
            size += element.Exists ? element.ElementBytes.Length : 0;
        }
        var bytes = new byte[size];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, size);
        int at = 4;
        foreach (var name in Fields)
        {
            var element = entry.Document.Find(name);
            if (element.Exists)
            {
                element.ElementBytes.Span.CopyTo(bytes.AsSpan(at));
                at += element.ElementBytes.Length;
            }
        }
        return new RawBsonDocument(bytes);
    }

    private static readonly byte[][] Fields = ["op"u8.ToArray(), "ns"u8.ToArray(), "o"u8.ToArray(), "o2"u8.ToArray()];

    /// <summary>operations[start..start+count), without copying them (a worker's batch is mostly one chunk).</summary>
    private sealed class OperationRange(IReadOnlyList<ReplayOperation> operations, int start, int count) : IReadOnlyList<ReplayOperation>
    {
        public int Count => count;

        public ReplayOperation this[int index] => (uint)index < (uint)count ? operations[start + index] : throw new ArgumentOutOfRangeException(nameof(index));

        public IEnumerator<ReplayOperation> GetEnumerator()
        {
            for (int i = 0; i < count; i++)
            {
                yield return operations[start + i];
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
